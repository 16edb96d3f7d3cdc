/**
 * `kelp bench [URL]`, `kelp bench polling URL`, and the worker child process of the end-to-end
 * workloads (`bin/worker.mjs`, never a `kelp` sub-command). Argument parsing and output only;
 * the measuring lives in the workload modules. Returns the exit code: 0 when every workload ran,
 * 1 when one failed, 2 for a bad command line.
 */
import { redactUrl } from 'kelp';
import { writeFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { backlogRssWorkload, endToEndWorkload, type ProcessContext } from './e2e.js';
import { comparisonTable, pollingTable, rowLabel, workloadTable } from './format.js';
import type { WorkloadResult } from './measure.js';
import { BASELINES, DEFAULT_WINDOW_MS, POLL_MODES, runPollingBench, TRACKING, type Baseline, type PollMode, type Tracking } from './polling.js';
import { comparePollingReports, readPollingReport } from './polling-compare.js';
import { kombuVersion } from './polling-consumers.js';
import { environmentOf } from './polling-environment.js';
import { BUILTIN_LOADS, builtinLoad, loadFromFile, type BuiltinLoad, type LoadSpec } from './polling-loads.js';
import { resolveCycles } from './polling-strategies.js';
import { RedisInfoProbe } from './redis-info.js';
import { WORKER_SCRIPT } from './paths.js';
import { renderComparisonReport, renderPollingReport } from './report-html.js';
import { runWorker, type WorkerOptions } from './worker.js';
import { addQueueRatios, runWorkload, WORKLOAD_IDS, type WorkloadId } from './workloads.js';

export interface BenchIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Program and leading arguments that start a worker process (default: `node bin/worker.mjs`). */
  workerCommand?: readonly string[];
}

class BenchUsageError extends Error {
  override name = 'UsageError';
}

export const BENCH_USAGE = `usage:
  kelp bench [URL] [--workloads LIST|all] [--messages N] [--concurrency N] [--backlogs N,N] [--timeout SECONDS] [--json]
  kelp bench polling URL [--queues N] [--messages N] [--rate N] [--paced N] [--interval SECONDS] [--window MS]
                         [--cycles NAMES,MODULE-PATHS] [--modes LIST] [--loads LIST] [--zipf S] [--load path.json]
                         [--tracking on,off] [--baseline kombu,raw] [--repeat N] [--json] [--report path.html]
  kelp bench polling --compare a.json b.json [--report path.html] [--json]
workloads: ${[...WORKLOAD_IDS, 'e2e-saturated', 'e2e-paced', 'rss-backlog'].join(', ')}
URL defaults to memory:// (the end-to-end and RSS workloads need a redis:// URL).`;

/** Extra workloads that run in child processes. */
const PROCESS_WORKLOADS = ['e2e-saturated', 'e2e-paced', 'rss-backlog'] as const;
type ProcessWorkloadId = (typeof PROCESS_WORKLOADS)[number];

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new BenchUsageError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new BenchUsageError(`--${name} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

/** A comma-separated list whose every item must be one of `allowed`. */
export function listOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T[] | undefined {
  if (value === undefined || value === 'all') return undefined;
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new BenchUsageError(`--${name} accepts ${allowed.join(', ')} (comma-separated) or all; got ${JSON.stringify(item)}`);
    }
  }
  return items as T[];
}

type ParsedFlags = { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };

function parse(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): ParsedFlags {
  try {
    return parseArgs({ args: [...argv], options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new BenchUsageError(error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error));
  }
}

function str(values: Record<string, unknown>, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function defaultWorkerCommand(): string[] {
  return [process.execPath, WORKER_SCRIPT];
}

async function runWorkloadsCommand(argv: readonly string[], io: BenchIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    workloads: { type: 'string' },
    messages: { type: 'string' },
    concurrency: { type: 'string' },
    backlogs: { type: 'string' },
    timeout: { type: 'string' },
  });
  if (values['help']) {
    io.stdout(`${BENCH_USAGE}\n`);
    return 0;
  }
  const url = positionals[0] ?? 'memory://';
  const all = [...WORKLOAD_IDS, ...PROCESS_WORKLOADS] as const;
  const explicit = listOf('workloads', str(values, 'workloads'), all);
  const backlogs = (str(values, 'backlogs') ?? '10000,100000').split(',').map((b) => positiveInt('backlogs', b, 10_000));
  const messages = positiveInt('messages', str(values, 'messages'), 20_000);
  const concurrency = positiveInt('concurrency', str(values, 'concurrency'), 1000);
  const timeoutMs = positiveNumber('timeout', str(values, 'timeout'), 120) * 1000;
  const probe = await RedisInfoProbe.open(url);
  // The cross-process workloads need a broker outside this process; by default they are left
  // out for memory:// rather than reported as failures.
  const selected = explicit ?? all.filter((id) => probe !== undefined || !(PROCESS_WORKLOADS as readonly string[]).includes(id));
  if (!explicit && !probe && !values['json']) io.stderr(`  (${PROCESS_WORKLOADS.join(', ')} need a redis:// URL; skipped)\n`);
  const ctx: ProcessContext = {
    url,
    messages,
    concurrency,
    timeoutMs,
    workerCommand: io.workerCommand ?? defaultWorkerCommand(),
    ...(probe ? { probe } : {}),
  };
  const results: WorkloadResult[] = [];
  const progress = (r: WorkloadResult): void => {
    results.push(r);
    if (!values['json']) io.stderr(`  ${r.label}: ${r.error ? `failed (${r.error})` : `${Math.round(r.rate)} msgs/s`}\n`);
  };
  try {
    for (const id of selected) {
      if ((WORKLOAD_IDS as readonly string[]).includes(id)) progress(await runWorkload(ctx, id as WorkloadId));
      else if ((id as ProcessWorkloadId) === 'e2e-saturated') progress(await endToEndWorkload(ctx, 0));
      else if ((id as ProcessWorkloadId) === 'e2e-paced') progress(await endToEndWorkload(ctx, 1000, Math.min(ctx.messages, 5000)));
      else for (const backlog of backlogs) progress(await backlogRssWorkload(ctx, backlog));
    }
  } finally {
    probe?.close();
  }
  addQueueRatios(results);
  io.stdout(values['json'] ? `${JSON.stringify({ url: redactUrl(url), messages: ctx.messages, results }, null, 2)}\n` : `${workloadTable(results)}\n`);
  return results.some((r) => r.error) ? 1 : 0;
}

/** `--rate`: msgs/s of the paced phase, or 0 for a saturating producer. */
function rateOf(value: string | undefined): number {
  if (value === '0') return 0;
  return positiveNumber('rate', value, 1000);
}

/** Loads from `--loads` (built-in names) and `--load` (a file), over `queues` queues. */
function pollingLoads(values: Record<string, unknown>, queues: number): LoadSpec[] {
  const zipf = positiveNumber('zipf', str(values, 'zipf'), 1);
  const file = str(values, 'load');
  const named = listOf<BuiltinLoad>('loads', str(values, 'loads'), BUILTIN_LOADS);
  const loads = (named ?? (file ? [] : ['skewed', 'even'])).map((name) => builtinLoad(name as BuiltinLoad, queues, zipf));
  if (file) loads.push(loadFromFile(file));
  return loads;
}

async function runPollingCompare(files: readonly string[], values: Record<string, unknown>, io: BenchIo): Promise<number> {
  if (files.length !== 2) throw new BenchUsageError('--compare takes two saved runs: kelp bench polling --compare a.json b.json');
  const [fa, fb] = files as [string, string];
  const comparison = comparePollingReports(readPollingReport(fa), readPollingReport(fb), [fa, fb]);
  const reportPath = str(values, 'report');
  if (reportPath) writeFileSync(reportPath, renderComparisonReport(comparison));
  io.stdout(values['json'] ? `${JSON.stringify(comparison, null, 2)}\n` : `${comparisonTable(comparison)}\n${reportPath ? `report: ${reportPath}\n` : ''}`);
  return 0;
}

async function runPollingCommand(argv: readonly string[], io: BenchIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    queues: { type: 'string' },
    messages: { type: 'string' },
    rate: { type: 'string' },
    paced: { type: 'string' },
    interval: { type: 'string' },
    window: { type: 'string' },
    cycles: { type: 'string' },
    modes: { type: 'string' },
    loads: { type: 'string' },
    load: { type: 'string' },
    zipf: { type: 'string' },
    baseline: { type: 'string' },
    tracking: { type: 'string' },
    repeat: { type: 'string' },
    compare: { type: 'boolean' },
    report: { type: 'string' },
    timeout: { type: 'string' },
  });
  if (values['help']) {
    io.stdout(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (values['compare']) return runPollingCompare(positionals, values, io);
  const url = positionals[0];
  if (!url) throw new BenchUsageError('kelp bench polling needs a broker URL, e.g. kelp bench polling redis://127.0.0.1:6379/0');
  const messages = positiveInt('messages', str(values, 'messages'), 5000);
  const queues = positiveInt('queues', str(values, 'queues'), 10);
  const loads = pollingLoads(values, queues);
  const cycleItems = str(values, 'cycles');
  const cycles = cycleItems === undefined || cycleItems === 'all' ? undefined : await resolveCycles(cycleItems.split(',').map((c) => c.trim()).filter(Boolean));
  const modes = listOf<PollMode>('modes', str(values, 'modes'), POLL_MODES);
  const baselines = listOf<Baseline>('baseline', str(values, 'baseline'), BASELINES);
  const tracking = listOf<Tracking>('tracking', str(values, 'tracking'), TRACKING);
  const probe = await RedisInfoProbe.open(url);
  try {
    const commandLine = ['kelp', 'bench', 'polling', ...argv].join(' ');
    const report = await runPollingBench({
      url,
      messages,
      loads,
      rate: rateOf(str(values, 'rate')),
      pacedMessages: positiveInt('paced', str(values, 'paced'), Math.min(messages, 1000)),
      interval: positiveNumber('interval', str(values, 'interval'), 0.01),
      windowMs: positiveNumber('window', str(values, 'window'), DEFAULT_WINDOW_MS),
      timeoutMs: positiveNumber('timeout', str(values, 'timeout'), 120) * 1000,
      repeat: positiveInt('repeat', str(values, 'repeat'), 1),
      ...(cycles ? { cycles } : {}),
      ...(modes ? { modes } : {}),
      ...(baselines ? { baselines } : {}),
      ...(tracking ? { tracking } : {}),
      ...(probe ? { probe } : {}),
      onResult: (r) => {
        if (!values['json']) io.stderr(`  ${r.load} ${rowLabel(r)}: ${r.error ? `failed (${r.error})` : `${Math.round(r.throughput)} msgs/s`}\n`);
      },
    });
    report.environment = await environmentOf({ commandLine, ...(probe ? { probe } : {}), ...(kombuVersion ? { kombu: kombuVersion } : {}) });
    const reportPath = str(values, 'report');
    if (reportPath) writeFileSync(reportPath, renderPollingReport(report, commandLine));
    io.stdout(values['json'] ? `${JSON.stringify(report, null, 2)}\n` : `${pollingTable(report.results)}\n${reportPath ? `report: ${reportPath}\n` : ''}`);
    return report.results.some((r) => r.error) ? 1 : 0;
  } finally {
    probe?.close();
  }
}

async function parseAndRunWorker(argv: readonly string[], io: BenchIo): Promise<number> {
  const { values } = parse(argv, {
    role: { type: 'string' },
    url: { type: 'string' },
    prefix: { type: 'string' },
    queues: { type: 'string' },
    messages: { type: 'string' },
    prefetch: { type: 'string' },
    concurrency: { type: 'string' },
    rate: { type: 'string' },
    warmup: { type: 'string' },
    'timeout-ms': { type: 'string' },
    'transport-options': { type: 'string' },
  });
  const role = str(values, 'role');
  if (role !== 'consumer' && role !== 'producer') throw new BenchUsageError('--role must be consumer or producer');
  const url = str(values, 'url');
  const prefix = str(values, 'prefix');
  if (!url || !prefix) throw new BenchUsageError('the bench worker needs --url and --prefix');
  const options: WorkerOptions = {
    role,
    url,
    prefix,
    queues: positiveInt('queues', str(values, 'queues'), 1),
    messages: positiveInt('messages', str(values, 'messages'), 10_000),
    prefetch: positiveInt('prefetch', str(values, 'prefetch'), 100),
    concurrency: positiveInt('concurrency', str(values, 'concurrency'), 1000),
    rate: Number(str(values, 'rate') ?? 0),
    warmup: Number(str(values, 'warmup') ?? 0),
    timeoutMs: positiveNumber('timeout-ms', str(values, 'timeout-ms'), 120_000),
  };
  const transportOptions = str(values, 'transport-options');
  if (transportOptions) options.transportOptions = JSON.parse(transportOptions) as Record<string, unknown>;
  await runWorker(options, io.stdout);
  return 0;
}

/** Entry point for `kelp bench ...` (argv without the leading `bench`). */
export function runBenchCommand(argv: readonly string[], io: BenchIo): Promise<number> {
  const [sub, ...rest] = argv;
  return exitCode(io, () => (sub === 'polling' ? runPollingCommand(rest, io) : runWorkloadsCommand(argv, io)));
}

/** Entry point of the worker child process (`bin/worker.mjs --role consumer|producer ...`). */
export function runWorkerCommand(argv: readonly string[], io: BenchIo): Promise<number> {
  return exitCode(io, () => parseAndRunWorker(argv, io));
}

async function exitCode(io: BenchIo, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    const text = error instanceof Error ? error.message.split('\n')[0] : String(error);
    io.stderr(`kelp: error: ${text}\n`);
    // The lab's modules throw their own usage errors (a bad load file, an unknown strategy).
    return error instanceof BenchUsageError || (error instanceof Error && error.name === 'UsageError') ? 2 : 1;
  }
}
