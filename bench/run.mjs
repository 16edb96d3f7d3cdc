#!/usr/bin/env node
// `npm run bench [-- URL] [--messages N] [--repeat N] [--workloads LIST] [--backlogs N,N] [--quick] [--no-micro] [--no-warmup]`
//
// Builds nothing itself (the npm script runs `npm run build` first), then:
//  1. tinybench micro-suites (codec, memory://) for per-message CPU without a broker;
//  2. every workload of `kelp bench` against Redis (the URL given, or a private redis-server on a
//     free loopback port), each repeated --repeat times and reported as the median run (the
//     in-process ones after one unmeasured run of 5,000 messages, unless --no-warmup);
//  3. the issue's targets checked against those rows;
// and writes bench/results/<time>.json and .md with the command line and machine info.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { loadDrivers, root } from './lib/load.mjs';
import { checkTargets } from './lib/targets.mjs';
import { commandLine, machineInfo, markdownTable, writeResults } from './lib/machine.mjs';
import { useRedis } from './lib/redis.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    messages: { type: 'string', default: '20000' },
    repeat: { type: 'string', default: '3' },
    workloads: { type: 'string' },
    backlogs: { type: 'string' },
    concurrency: { type: 'string', default: '1000' },
    quick: { type: 'boolean', default: false },
    'no-micro': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '180' },
    'no-warmup': { type: 'boolean', default: false },
  },
});

const out = (s) => process.stdout.write(s);
const log = (s) => process.stderr.write(s);
const drivers = await loadDrivers();
const { num, table, workloadTable, RedisInfoProbe, runWorkload, addQueueRatios, endToEndWorkload, backlogRssWorkload, WORKLOAD_IDS, median } = drivers;

const quick = values.quick;
const warmup = !values['no-warmup'];
/** Messages in the unmeasured warm-up run of each in-process workload. */
const WARMUP_MESSAGES = 5000;
const repeat = quick ? 1 : Number(values.repeat);
const messages = quick ? 5000 : Number(values.messages);
const report = { command: commandLine(), startedAt: new Date().toISOString(), micro: [], results: [], runs: {} };

// 1. Micro-suites.
const microRows = [];
if (!values['no-micro']) {
  const { codecSuite } = await import('./suites/codec.bench.mjs');
  const { memorySuite } = await import('./suites/memory.bench.mjs');
  for (const suite of [codecSuite, memorySuite]) {
    const bench = await suite({ time: quick ? 100 : 400 });
    for (const task of bench.tasks) {
      const r = task.result;
      const ok = r && 'latency' in r;
      const row = { suite: bench.name, task: task.name, usMean: ok ? r.latency.mean * 1000 : NaN, usP99: ok ? r.latency.p99 * 1000 : NaN, opsPerSec: ok ? r.throughput.mean : NaN, samples: ok ? r.latency.samplesCount ?? r.totalTime : undefined, error: r?.error ? String(r.error) : undefined };
      report.micro.push(row);
      microRows.push([row.suite, row.task, num(row.usMean), num(row.usP99), num(row.opsPerSec), row.error ?? '']);
    }
  }
  out(`\nMicro-benchmarks (tinybench)\n${table(['<suite', '<task', 'us mean', 'us p99', 'ops/s', '<error'], microRows)}\n`);
}

// 2. Workloads on Redis.
const redis = await useRedis(positionals[0]);
const probe = await RedisInfoProbe.open(redis.url);
const redisVersion = await probe.version();
report.machine = machineInfo({ redis: redisVersion, redisUrl: redis.url, redisStartedByRunner: redis.started });
const ctx = {
  url: redis.url,
  messages,
  concurrency: Number(values.concurrency),
  timeoutMs: Number(values.timeout) * 1000,
  probe,
  workerCommand: [process.execPath, join(root, 'bench', 'worker.mjs')],
};
const wanted = values.workloads ? values.workloads.split(',') : [...WORKLOAD_IDS, 'e2e-saturated', 'e2e-paced', 'rss-backlog'];
const backlogs = (values.backlogs ?? (quick ? '2000,20000' : '10000,1000000')).split(',').map(Number);

/** Runs `fn` `repeat` times and keeps the run with the median rate (all runs are kept in the JSON). */
async function medianOf(fn) {
  const runs = [];
  for (let i = 0; i < repeat; i += 1) runs.push(await fn());
  const good = runs.filter((r) => !r.error);
  if (good.length === 0) return runs[0];
  const mid = median(good.map((r) => r.rate));
  const chosen = good.find((r) => r.rate === mid) ?? good[0];
  report.runs[chosen.id] = runs.map((r) => ({ rate: r.rate, p50: r.latencyMs?.p50, p99: r.latencyMs?.p99, cpuUsPerMsg: r.cpuUsPerMsg, error: r.error }));
  return chosen;
}

try {
  for (const id of wanted) {
    const runs = [];
    if (WORKLOAD_IDS.includes(id)) {
      // One short unmeasured run first: these run in this process, and the first workload of a
      // run otherwise measured V8 compiling kelp (publish-serial came out 12k cold, 16k warm).
      if (warmup) await runWorkload({ ...ctx, messages: Math.min(messages, WARMUP_MESSAGES) }, id);
      runs.push(await medianOf(() => runWorkload(ctx, id)));
    }
    else if (id === 'e2e-saturated') runs.push(await medianOf(() => endToEndWorkload(ctx, 0)));
    else if (id === 'e2e-paced') runs.push(await medianOf(() => endToEndWorkload(ctx, 1000, Math.min(messages, 5000))));
    else if (id === 'rss-backlog') for (const b of backlogs) runs.push(await backlogRssWorkload(ctx, b));
    else throw new Error(`unknown workload ${id}`);
    for (const r of runs) {
      report.results.push(r);
      log(`  ${r.label}: ${r.error ? `failed (${r.error})` : `${Math.round(r.rate)} msgs/s`}\n`);
    }
  }
} finally {
  probe.close();
  await redis.stop();
}
addQueueRatios(report.results);

const targets = checkTargets(report.results, (v) => num(v));
report.targets = targets.map(([what, target, measured, verdict, kombu]) => ({ what, target, measured, verdict, kombu }));
const workloadText = workloadTable(report.results);
const targetText = table(['<target', '<goal', '<measured', '<verdict', '<Kombu 5.2.4'], targets);
const warmNote = warmup ? ', each after an unmeasured warm-up run' : '';
out(`\nWorkloads on ${redis.url} (Redis ${redisVersion}; ${messages} messages each, median of ${repeat}${warmNote})\n${workloadText}\n\nTargets (issue 5)\n${targetText}\n`);

const md = `# kelp bench ${report.startedAt}

Command: \`${report.command}\`

Machine: ${report.machine.cpu}, ${report.machine.cores} cores, ${report.machine.memoryGiB} GiB, ${report.machine.os}, Node ${report.machine.node}, Redis ${redisVersion}, commit ${report.machine.commit}, load average at start ${report.machine.loadAverage.join(' / ')}

## Workloads (${messages} messages each, median of ${repeat}${warmNote})

\`\`\`
${workloadText}
\`\`\`

## Targets

${markdownTable(['target', 'goal', 'measured', 'verdict', 'Kombu 5.2.4'], targets)}
${microRows.length ? `\n## Micro-benchmarks (tinybench)\n\n${markdownTable(['suite', 'task', 'us mean', 'us p99', 'ops/s', 'error'], microRows)}\n` : ''}`;
const [jsonPath, mdPath] = writeResults('', report, md);
out(`\nwrote ${jsonPath}\nwrote ${mdPath}\n`);
