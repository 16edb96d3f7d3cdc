#!/usr/bin/env node
// `npm run bench:compare [-- URL] [--messages N] [--repeat N]`
//
// The same workloads on the same Redis, in one run, through Python Kombu (Debian's
// python3-kombu, bench/kombu_bench.py run by /usr/bin/python3) and through kelp:
//   - publish, each publish completed before the next (Kombu's Producer.publish is synchronous);
//   - consume+ack of a prefilled queue at prefetch 100.
// Body: the same ~200-byte JSON. Each side runs --repeat times (median reported), alternating
// Kombu and kelp so a drift in machine load hits both. Prints kelp vs Kombu with ratios and
// writes bench/results/<time>-compare.json and .md.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { loadDrivers, root } from './lib/load.mjs';
import { commandLine, machineInfo, markdownTable, writeResults } from './lib/machine.mjs';
import { useRedis } from './lib/redis.mjs';

const run = promisify(execFile);
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    messages: { type: 'string', default: '10000' },
    'kelp-messages': { type: 'string' },
    repeat: { type: 'string', default: '3' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const messages = Number(values.messages);
// kelp finishes 10k messages in well under a second; more messages give it a steadier figure.
const kelpMessages = Number(values['kelp-messages'] ?? Math.max(messages, 20_000));
const repeat = Number(values.repeat);
const drivers = await loadDrivers();
const { num, table, RedisInfoProbe, runWorkload, median } = drivers;

const redis = await useRedis(positionals[0]);
const probe = await RedisInfoProbe.open(redis.url);
const redisVersion = await probe.version();

async function kombu(mode) {
  const prefix = `kombu.bench.${process.pid}.${Date.now().toString(36)}`;
  const { stdout } = await run(values.python, [join(root, 'bench', 'kombu_bench.py'), redis.url, mode, String(messages), prefix], { maxBuffer: 1 << 20, timeout: 600_000 });
  const r = JSON.parse(stdout.trim().split('\n').pop());
  return { rate: r.rate, cpuUsPerMsg: r.cpu_us_per_msg, commandsPerMsg: r.commands_per_msg, roundTripsPerMsg: r.round_trips_per_msg, peakRssMiB: r.peak_rss_mib, messages: r.messages, version: r.kombu };
}

async function kelp(id) {
  const r = await runWorkload({ url: redis.url, messages: kelpMessages, concurrency: 1000, timeoutMs: 300_000, probe }, id);
  if (r.error) throw new Error(`kelp ${id}: ${r.error}`);
  return { rate: r.rate, cpuUsPerMsg: r.cpuUsPerMsg, commandsPerMsg: r.commandsPerMsg, roundTripsPerMsg: r.roundTripsPerMsg, peakRssMiB: r.peakRssMiB, messages: r.messages };
}

const workloads = [
  { name: 'publish, one at a time (awaited)', kombu: () => kombu('publish'), kelp: () => kelp('publish-serial') },
  { name: 'consume+ack, prefetch 100', kombu: () => kombu('consume'), kelp: () => kelp('consume-ack-p100') },
];

const pick = (runs) => {
  const mid = median(runs.map((r) => r.rate));
  return runs.find((r) => r.rate === mid) ?? runs[0];
};

const results = [];
let kombuVersion = 'unknown';
try {
  for (const w of workloads) {
    const k = [];
    const n = [];
    for (let i = 0; i < repeat; i += 1) {
      k.push(await w.kombu());
      n.push(await w.kelp());
      process.stderr.write(`  ${w.name} run ${i + 1}/${repeat}: Kombu ${Math.round(k[i].rate)} msgs/s, kelp ${Math.round(n[i].rate)} msgs/s\n`);
    }
    kombuVersion = k[0].version;
    results.push({ workload: w.name, kombu: pick(k), kelp: pick(n), kombuRuns: k.map((r) => r.rate), kelpRuns: n.map((r) => r.rate) });
  }
} finally {
  probe.close();
  await redis.stop();
}

const ratio = (a, b) => (a > 0 && b > 0 ? `${num(a / b, 3)}x` : '-');
const rows = results.flatMap((r) => [
  [r.workload, 'msgs/s', num(r.kombu.rate), num(r.kelp.rate), ratio(r.kelp.rate, r.kombu.rate)],
  ['', 'client CPU us/msg', num(r.kombu.cpuUsPerMsg), num(r.kelp.cpuUsPerMsg), ratio(r.kombu.cpuUsPerMsg, r.kelp.cpuUsPerMsg)],
  ['', 'Redis commands/msg', num(r.kombu.commandsPerMsg), num(r.kelp.commandsPerMsg), ratio(r.kombu.commandsPerMsg, r.kelp.commandsPerMsg)],
  ['', 'round trips/msg', num(r.kombu.roundTripsPerMsg), num(r.kelp.roundTripsPerMsg), ratio(r.kombu.roundTripsPerMsg, r.kelp.roundTripsPerMsg)],
  ['', 'peak RSS MiB', num(r.kombu.peakRssMiB), num(r.kelp.peakRssMiB), ''],
]);
const headers = ['<workload', '<metric', `Kombu ${kombuVersion}`, 'kelp', 'kelp advantage'];
const text = table(headers, rows);
const machine = machineInfo({ redis: redisVersion, redisUrl: redis.url, redisStartedByRunner: redis.started, kombu: kombuVersion });
const intro = `kelp vs Python Kombu on ${redis.url} (Redis ${redisVersion}); ~200-byte JSON body; Kombu ${messages} messages, kelp ${kelpMessages} messages per run; median of ${repeat}`;
process.stdout.write(`\n${intro}\n${text}\n(kelp advantage: rate ratio kelp/Kombu; for CPU, commands and round trips Kombu/kelp)\n`);
const command = commandLine();
const md = `# kelp vs Kombu ${new Date().toISOString()}

Command: \`${command}\`

Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.os}, Node ${machine.node}, Python Kombu ${kombuVersion}, Redis ${redisVersion}, commit ${machine.commit}, load average ${machine.loadAverage.join(' / ')}

${intro}

${markdownTable(headers.map((h) => h.replace(/^</, '')), rows)}
`;
const [jsonPath, mdPath] = writeResults('compare', { command, machine, messages, kelpMessages, repeat, results }, md);
process.stdout.write(`\nwrote ${jsonPath}\nwrote ${mdPath}\n`);
