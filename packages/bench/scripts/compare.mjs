#!/usr/bin/env node
// `npm run bench:compare [-- URL] [--repeat N] [--messages N] [--cli-messages N] [--large-backlog] [--only LIST] [--no-warm]`
//
// kelp beside its peers on one Redis, in one run:
//  1. cold workloads (packages/bench/src/cold): every side a fresh process, no warm-up, the first
//     --messages (20,000) messages counted, ~200-byte JSON bodies; kelp against BullMQ (Worker,
//     queue.add()), raw ioredis and Python Kombu, round by round so that the sides alternate;
//     medians of --repeat (3) rounds; then the targets of issue 12 with met / MISSED;
//  2. warm workloads, as before: kelp in this process (after the cold rounds) and a Python Kombu
//     process, publish one at a time and consume+ack at prefetch 100, alternating.
// Writes packages/bench/results/<time>-compare.json and .md.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { loadDrivers, root } from './lib/load.mjs';
import { commandLine, machineInfo, markdownTable, writeResults } from './lib/machine.mjs';
import { useRedis } from './lib/redis.mjs';

const run = promisify(execFile);
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    repeat: { type: 'string', default: '3' },
    messages: { type: 'string', default: '20000' },
    'cli-messages': { type: 'string', default: '100000' },
    'kombu-cli-messages': { type: 'string', default: '20000' },
    backlogs: { type: 'string', default: '10000' },
    'large-backlog': { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-warm': { type: 'boolean', default: false },
    'kombu-messages': { type: 'string', default: '10000' },
    timeout: { type: 'string', default: '300' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const repeat = Number(values.repeat);
const drivers = await loadDrivers();
const { num, table, RedisInfoProbe, runWorkload, median, WORKER_SCRIPT, KOMBU_SCRIPT, coldWorkloads, compareCold, checkColdTargets, coldTables, sideRows, targetRows, SIDE_HEADERS, TARGET_HEADERS } = drivers;
const log = (s) => process.stderr.write(s);

const backlogs = values.backlogs.split(',').map(Number);
if (values['large-backlog']) backlogs.push(1_000_000);
const all = coldWorkloads({ backlogs });
const only = values.only?.split(',');
const unknown = only?.filter((id) => !all.some((w) => w.id === id)) ?? [];
if (unknown.length > 0) {
  log(`--only accepts ${all.map((w) => w.id).join(', ')}; got ${unknown.join(', ')}\n`);
  process.exit(2);
}
const workloads = all.filter((w) => !only || only.includes(w.id));

const redis = await useRedis(positionals[0]);
const probe = await RedisInfoProbe.open(redis.url);
const server = await probe.server();
const machine = machineInfo({ redis: server, redisUrl: redis.url, redisStartedByRunner: redis.started });
const started = Date.now();

// 1. Cold workloads.
const ctx = {
  url: redis.url,
  messages: Number(values.messages),
  cliMessages: Number(values['cli-messages']),
  kombuCliMessages: Number(values['kombu-cli-messages']),
  backlogs,
  python: values.python,
  cliScript: join(root, 'packages', 'cli', 'dist', 'kelp.js'),
  concurrency: 1000,
  timeoutMs: Number(values.timeout) * 1000,
  probe,
  workerCommand: [process.execPath, WORKER_SCRIPT],
};
let cold;
let warm = [];
let kombuVersion = 'not run';
try {
  cold = await compareCold(ctx, workloads, {
    rounds: repeat,
    onRun: (w, side, round, outcome) =>
      log(`  ${w.id} ${side} round ${round}/${repeat}: ${outcome instanceof Error ? `failed (${outcome.message})` : `${num(outcome.rate)} msgs/s${outcome.latencyMs ? `, p50 ${num(outcome.latencyMs.p50)} ms` : ''}`}\n`),
  });
  // 2. Warm workloads against Python Kombu.
  if (!values['no-warm']) ({ warm, kombuVersion } = await warmKombu());
} finally {
  probe.close();
  await redis.stop();
}

async function warmKombu() {
  const messages = Number(values['kombu-messages']);
  const kelpMessages = Math.max(messages, 20_000);
  const kombu = async (mode) => {
    const prefix = `kombu.bench.${process.pid}.${Date.now().toString(36)}`;
    const { stdout } = await run(values.python, [KOMBU_SCRIPT, redis.url, mode, String(messages), prefix], { maxBuffer: 1 << 20, timeout: 600_000 });
    const r = JSON.parse(stdout.trim().split('\n').pop());
    return { rate: r.rate, cpuUsPerMsg: r.cpu_us_per_msg, commandsPerMsg: r.commands_per_msg, roundTripsPerMsg: r.round_trips_per_msg, peakRssMiB: r.peak_rss_mib, version: r.kombu };
  };
  const kelp = async (id) => {
    const r = await runWorkload({ url: redis.url, messages: kelpMessages, concurrency: 1000, timeoutMs: 300_000, probe }, id);
    if (r.error) throw new Error(`kelp ${id}: ${r.error}`);
    return { rate: r.rate, cpuUsPerMsg: r.cpuUsPerMsg, commandsPerMsg: r.commandsPerMsg, roundTripsPerMsg: r.roundTripsPerMsg };
  };
  const pairs = [
    { name: 'warm: publish, one at a time (awaited)', kombu: () => kombu('publish'), kelp: () => kelp('publish-serial') },
    { name: 'warm: consume+ack, prefetch 100', kombu: () => kombu('consume'), kelp: () => kelp('consume-ack-p100') },
  ];
  const pick = (runs) => runs.find((r) => r.rate === median(runs.map((x) => x.rate))) ?? runs[0];
  const results = [];
  let version = 'unknown';
  for (const pair of pairs) {
    const k = [];
    const n = [];
    for (let i = 0; i < repeat; i += 1) {
      k.push(await pair.kombu());
      n.push(await pair.kelp());
      log(`  ${pair.name} run ${i + 1}/${repeat}: Kombu ${Math.round(k[i].rate)} msgs/s, kelp ${Math.round(n[i].rate)} msgs/s\n`);
    }
    version = k[0].version;
    results.push({ workload: pair.name, kombu: pick(k), kelp: pick(n) });
  }
  return { warm: results, kombuVersion: version, messages, kelpMessages };
}

const checks = checkColdTargets(cold);
const { workloads: coldText, targets: targetText } = coldTables(cold, checks);
const ratio = (a, b) => (a > 0 && b > 0 ? `${num(a / b, 3)}x` : '-');
const warmRows = warm.flatMap((r) => [
  [r.workload, 'msgs/s', num(r.kombu.rate), num(r.kelp.rate), ratio(r.kelp.rate, r.kombu.rate)],
  ['', 'client CPU us/msg', num(r.kombu.cpuUsPerMsg), num(r.kelp.cpuUsPerMsg), ratio(r.kombu.cpuUsPerMsg, r.kelp.cpuUsPerMsg)],
  ['', 'Redis commands/msg', num(r.kombu.commandsPerMsg), num(r.kelp.commandsPerMsg), ratio(r.kombu.commandsPerMsg, r.kelp.commandsPerMsg)],
  ['', 'round trips/msg', num(r.kombu.roundTripsPerMsg), num(r.kelp.roundTripsPerMsg), ratio(r.kombu.roundTripsPerMsg, r.kelp.roundTripsPerMsg)],
]);
const warmHeaders = ['<workload', '<metric', `Kombu ${kombuVersion}`, 'kelp', 'kelp advantage'];
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const coldIntro = `Cold processes on ${redis.url} (${server}): first ${ctx.messages} messages of each process counted (CLI: ${ctx.cliMessages}, Kombu consumer ${ctx.kombuCliMessages}), ~200-byte JSON bodies, median of ${repeat} alternating rounds; "kelp / side" is kelp's rate over that side's`;
const out = [`\n${coldIntro}\n${coldText}\n`, `\nTargets (issue 12)\n${targetText}\n`];
if (warm.length > 0) out.push(`\nWarm: kelp in this process vs a Python Kombu process, median of ${repeat}\n${table(warmHeaders, warmRows)}\n(kelp advantage: rate ratio kelp/Kombu; for CPU, commands and round trips Kombu/kelp)\n`);
out.push(`\n${minutes} minutes\n`);
process.stdout.write(out.join(''));

const command = commandLine();
const md = `# kelp beside BullMQ, raw ioredis and Kombu, ${new Date().toISOString()}

Command: \`${command}\` (${minutes} minutes)

Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.os}, Node ${machine.node}, ${server}, Python Kombu ${kombuVersion}, commit ${machine.commit}, load average at start ${machine.loadAverage.join(' / ')}

## Cold workloads

${coldIntro}.

${markdownTable(SIDE_HEADERS.map((h) => h.replace(/^</, '')), sideRows(cold))}

## Targets (issue 12)

${markdownTable(TARGET_HEADERS.map((h) => h.replace(/^</, '')), targetRows(checks))}
${warm.length > 0 ? `\n## Warm workloads (kelp in the runner's process, Python Kombu)\n\n${markdownTable(warmHeaders.map((h) => h.replace(/^</, '')), warmRows)}\n` : ''}`;
const [jsonPath, mdPath] = writeResults('compare', { command, machine, repeat, cold, targets: checks, warm }, md);
process.stdout.write(`\nwrote ${jsonPath}\nwrote ${mdPath}\n`);
