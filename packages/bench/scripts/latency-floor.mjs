// The latency floor of this machine and Redis, for reading kelp's e2e-paced figures: a raw
// ioredis producer process LPUSHes a timestamp at a fixed rate and a raw ioredis consumer process
// BRPOPs it (what Kombu does, with none of kelp's or Kombu's work and no ack). It also times a
// paced PING. Whatever kelp adds on top of this is kelp's; what this shows is the machine's.
//
//   node packages/bench/scripts/latency-floor.mjs [redis://127.0.0.1:6379/0] [--rate 1000] [--messages 5000]
// Without a URL it starts its own redis-server on a free loopback port.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { useRedis } from './lib/redis.mjs';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function flag(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return { p50: at(50), p99: at(99), count: sorted.length };
}

async function paced(rate, messages, send) {
  const start = performance.now();
  let sent = 0;
  while (sent < messages) {
    const due = Math.min(messages, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    while (sent < due) await send(sent++);
    await sleep(1);
  }
}

async function producer(url, rate, messages) {
  const redis = new Redis(url);
  const began = performance.now();
  await paced(rate, messages, (seq) => redis.lpush('latency-floor', `${now()} ${seq}`));
  const seconds = (performance.now() - began) / 1000;
  redis.disconnect();
  process.stdout.write(`${JSON.stringify({ event: 'result', messages, seconds, rate: messages / seconds })}\n`);
}

async function consumer(url, messages) {
  const redis = new Redis(url);
  const latencies = [];
  process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
  let first = 0;
  while (latencies.length < messages) {
    const reply = await redis.brpop('latency-floor', 5);
    if (!reply) break;
    if (first === 0) first = performance.now();
    latencies.push(now() - Number(reply[1].split(' ')[0]));
  }
  const seconds = (performance.now() - first) / 1000;
  redis.disconnect();
  const { p50, p99, count } = percentiles(latencies);
  const line = { event: 'result', messages: count, seconds, rate: count / seconds, latencyMs: { p50, p99 }, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function pingLatency(url, rate, messages) {
  const redis = new Redis(url);
  const latencies = [];
  await paced(rate, messages, async () => {
    const began = performance.now();
    await redis.ping();
    latencies.push(performance.now() - began);
  });
  redis.disconnect();
  return percentiles(latencies);
}

function child(role, url, rate, messages) {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', role, url, '--rate', String(rate), '--messages', String(messages)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout });
  const next = () => new Promise((resolve) => lines.once('line', resolve));
  return { proc, next };
}

async function main() {
  const args = process.argv.slice(2);
  const rate = flag(args, '--rate', 1000);
  const messages = flag(args, '--messages', 5000);
  const role = args.includes('--role') ? args[args.indexOf('--role') + 1] : undefined;
  let url = args.find((a) => /^rediss?:\/\//.test(a));
  if (role === 'producer') return producer(url, rate, messages);
  if (role === 'consumer') return consumer(url, messages);

  const redis = await useRedis(url);
  url = redis.url;
  try {
    const c = child('consumer', url, rate, messages);
    await c.next();
    const p = child('producer', url, rate, messages);
    const line = JSON.parse(await c.next());
    const result = { count: line.messages, ...line.latencyMs };
    await new Promise((resolve) => p.proc.once('exit', resolve));
    const ping = await pingLatency(url, rate, messages);
    const ms = (v) => v.toFixed(3);
    console.log(`raw ioredis LPUSH -> BRPOP across 2 processes, paced ${rate}/s, ${result.count} msgs: p50 ${ms(result.p50)} ms, p99 ${ms(result.p99)} ms`);
    console.log(`paced PING round trip (${ping.count}): p50 ${ms(ping.p50)} ms, p99 ${ms(ping.p99)} ms`);
  } finally {
    await redis.stop();
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
