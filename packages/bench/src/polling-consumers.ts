/**
 * The consumers `kelp bench polling` measures, behind one interface so every row is measured the
 * same way (same queues, same producer, same Redis, same clocks):
 *  - kelp, as a Consumer (modes blocking and batched: transport batch size 1 or 100, prefetch
 *    100) or as `queue.get()` in cycle order with a sleep after an empty cycle (mode interval);
 *  - the Kombu baseline: Debian's Python Kombu 5.2.4 in a child process (peers/kombu_polling.py),
 *    its own Redis transport and BRPOP cycle;
 *  - the raw baseline: a bare BRPOP loop over the queue lists with ioredis, round_robin like
 *    Kombu's, no ack bookkeeping at all: the floor any Redis consumer pays.
 */
import type { Connection, Message, Queue } from 'kelp';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { AckCounter, TIMESTAMP_HEADER, wallNow, type BenchChannel, type BenchTopology } from './harness.js';
import { KOMBU_POLLING_SCRIPT } from './paths.js';
import { cycleFor } from './polling-strategies.js';
import { redisClientFor } from './redis-info.js';

/** Where a consumer reports each delivery (queue index into the topology's names). */
export interface Sink {
  onDelivery(queue: number, publishedAt: number | undefined, servedAt: number): void;
}

export interface LabConsumer {
  /** Consumes until `expected()` holds; false on timeout. Throws the consumer's failure. */
  waitFor(expected: () => boolean, timeoutMs: number): Promise<boolean>;
  /** CPU time (us) the consumer has used since it started. */
  cpuUs(): number;
  stop(): Promise<void>;
}

function publishedAtOf(message: Message): number | undefined {
  const stamp = message.headers[TIMESTAMP_HEADER];
  return typeof stamp === 'number' ? stamp : undefined;
}

/** This process's CPU since `start` (the kelp and raw consumers run here). */
function ownCpu(): () => number {
  const start = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(start);
    return used.user + used.system;
  };
}

/** kelp's Consumer over the topology's queues, in `order`, acking every message. */
export async function startKelpConsumer(connection: Connection, channel: BenchChannel, topology: BenchTopology, order: readonly number[], prefetch: number, sink: Sink): Promise<LabConsumer> {
  const counter = new AckCounter();
  const ordered: BenchTopology = {
    exchange: topology.exchange,
    queues: order.map((i) => topology.queues[i] as Queue),
    names: order.map((i) => topology.names[i] as string),
  };
  const cpu = ownCpu();
  await counter.attach(channel, ordered, {
    prefetch,
    observer: { onMessage: (message, queue, now) => sink.onDelivery(order[queue] ?? -1, publishedAtOf(message), now) },
  });
  return {
    waitFor: (expected, timeoutMs) => counter.waitUntil(connection, () => expected() && counter.acked >= counter.received, timeoutMs),
    cpuUs: cpu,
    stop: () => counter.cancelAll(),
  };
}

/**
 * `queue.get()` over the queues in the strategy's order, sleeping `intervalS` after a cycle that
 * found nothing (Kombu's generic virtual-transport polling); the strategy's own cycle object
 * decides the order and is rotated after each delivery, as the channel does for consumers.
 */
export function startGetPoller(channel: BenchChannel, topology: BenchTopology, strategy: string, order: readonly number[], intervalS: number, sink: Sink): LabConsumer {
  const bound = topology.queues.map((queue) => queue.bind(channel));
  const index = new Map(topology.names.map((name, i) => [name, i] as const));
  const cycle = cycleFor(strategy, order.map((i) => topology.names[i] as string));
  const cpu = ownCpu();
  let stopped = false;
  let failure: unknown;
  const loop = (async () => {
    while (!stopped) {
      let found = false;
      for (const name of cycle.consume()) {
        const q = index.get(name) as number;
        const message = await (bound[q] as Queue).get({ noAck: false });
        if (!message) continue;
        sink.onDelivery(q, publishedAtOf(message), wallNow());
        await message.ack();
        cycle.rotate(name);
        found = true;
        break; // a hit restarts from the head of the (possibly rotated) cycle, as Kombu's FairCycle does
      }
      if (!found) await sleep(intervalS * 1000);
      else await yieldToLoop(); // let timers run between gets
    }
  })().catch((error: unknown) => {
    failure = error;
  });
  return {
    async waitFor(expected, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (!expected() && failure === undefined && performance.now() < deadline) await sleep(1);
      if (failure !== undefined) throw failure;
      return expected();
    },
    cpuUs: cpu,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Waits on a condition outside any Hub, checking every millisecond. */
async function pollUntil(expected: () => boolean, failed: () => unknown, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!expected() && failed() === undefined && performance.now() < deadline) await sleep(1);
  const failure = failed();
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
  return expected();
}

/**
 * A bare BRPOP consumer: BRPOP over every queue's list (the list a queue's name stands for in
 * Kombu's layout, so no priorities), the list that delivered moved to the back (round_robin).
 * Takes the message and forgets it: no unacked record, no ack.
 */
export async function startRawConsumer(url: string, topology: BenchTopology, order: readonly number[], sink: Sink): Promise<LabConsumer> {
  const client = redisClientFor(url, 'kelp-bench-raw');
  if (!client) throw new Error('--baseline raw needs a redis:// URL');
  client.on('error', () => undefined);
  await client.connect();
  const index = new Map(topology.names.map((name, i) => [name, i] as const));
  const keys = order.map((i) => topology.names[i] as string);
  const cpu = ownCpu();
  let stopped = false;
  let failure: unknown;
  const loop = (async () => {
    while (!stopped) {
      const reply = await client.brpop(...keys, 0.2);
      if (!reply) continue;
      const [key, payload] = reply;
      const now = wallNow();
      let publishedAt: number | undefined;
      try {
        const stamp = (JSON.parse(payload) as { headers?: Record<string, unknown> }).headers?.[TIMESTAMP_HEADER];
        if (typeof stamp === 'number') publishedAt = stamp;
      } catch {
        // not an envelope: counted, without a publish time
      }
      sink.onDelivery(index.get(key) ?? -1, publishedAt, now);
      keys.push(...keys.splice(keys.indexOf(key), 1));
    }
  })().catch((error: unknown) => {
    if (!stopped) failure = error;
  });
  return {
    waitFor: (expected, timeoutMs) => pollUntil(expected, () => failure, timeoutMs),
    cpuUs: cpu,
    async stop() {
      stopped = true;
      await loop;
      client.disconnect();
    },
  };
}

/** The Kombu version a ready Kombu child reported, for the report's environment. */
export let kombuVersion: string | undefined;

/**
 * Python Kombu in a child process (peers/kombu_polling.py); resolves once it is ready and
 * consuming. `beforeGo` runs between its start-up (interpreter, imports, declares) and its first
 * BRPOP, so what is measured from there on is the consuming alone.
 */
export async function startKombuConsumer(url: string, prefix: string, queues: number, sink: Sink, beforeGo: () => Promise<void>, python = '/usr/bin/python3'): Promise<LabConsumer> {
  const child: ChildProcessWithoutNullStreams = spawn(python, [KOMBU_POLLING_SCRIPT, url, prefix, String(queues)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  let failure: unknown;
  let readyCpu = 0;
  let lastCpu = 0;
  let exited = false;
  const ready = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => {
      failure = error;
      reject(error);
    });
    child.once('exit', (code) => {
      exited = true;
      const error = new Error(`the Kombu consumer exited (${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      failure ??= code === 0 ? undefined : error;
      reject(error);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return;
      }
      if (Array.isArray(parsed)) {
        const [queue, servedAt, publishedAt, cpu] = parsed as [number, number, number, number];
        lastCpu = cpu;
        sink.onDelivery(queue, publishedAt, servedAt);
      } else if ((parsed as { event?: string }).event === 'ready') {
        const info = parsed as { kombu?: string; cpu_us?: number };
        kombuVersion = info.kombu;
        readyCpu = info.cpu_us ?? 0;
        lastCpu = readyCpu;
        resolve();
      }
    });
  });
  ready.catch(() => undefined);
  await ready;
  await beforeGo();
  child.stdin.write('go\n');
  return {
    waitFor: (expected, timeoutMs) => pollUntil(expected, () => failure, timeoutMs),
    // The CPU the child reported with its latest delivery: what it spent consuming so far.
    cpuUs: () => lastCpu - readyCpu,
    async stop() {
      child.stdin.end();
      if (!exited) {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await new Promise((resolve) => child.once('exit', resolve));
        clearTimeout(timer);
      }
    },
  };
}
