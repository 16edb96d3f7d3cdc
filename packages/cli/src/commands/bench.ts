/**
 * `kelp bench`: throughput, latency and polling-strategy benchmarks. The benchmarks live in the
 * private workspace package `@kelp/bench`, which only a clone of the kelp repository has; it is
 * imported when this command runs, never when the CLI starts, so an installed `@kelp/cli` works
 * without it. This module declares the flags for the shared parser and help and hands them over.
 */
import type { Command } from '../command.js';
import type { OptionSpec } from '../args.js';
import { CommandFailed } from '../errors.js';

const value = (description: string, placeholder = 'N'): OptionSpec => ({ type: 'string', value: placeholder, description });

const options: Record<string, OptionSpec> = {
  workloads: value('Workloads to run, comma-separated, or all (an unknown name lists them)', 'LIST'),
  messages: value('Messages per workload (20000) or per polling drain (5000)'),
  concurrency: value('Publishes in flight for the concurrent workloads (1000)'),
  backlogs: value('Backlog sizes for the consumer RSS workload (10000,100000)', 'N,N'),
  timeout: value('Seconds one phase may take before it fails (120)', 'SECONDS'),
  queues: value('polling: number of queues (10)'),
  rate: value('polling: paced phase rate in msgs/s, 0 for a saturating producer (1000)'),
  paced: value('polling: messages in the paced phase (1000)'),
  interval: value('polling: interval mode sleep after an empty cycle (0.01)', 'SECONDS'),
  window: value('polling: length of the windows Jain\'s fairness index is computed over (20)', 'MS'),
  cycles: value('polling: strategies, comma-separated: round_robin, priority, sorted, names a module registered, or paths to modules that call registerQueueOrderStrategy', 'LIST'),
  modes: value('polling: blocking,batched,interval', 'LIST'),
  loads: value('polling: skewed,even,bursty,priority (default skewed,even)', 'LIST'),
  zipf: value('polling: skew exponent of the skewed load, queue i gets 1/(i+1)^S (1)', 'S'),
  load: value('polling: a JSON load file: {"queues": [{"weight" or "rate", "priority"?}, ...]}', 'PATH'),
  tracking: value('polling: wake-ups of the blocking and batched modes: on (CLIENT TRACKING), off (the poll timer alone), or on,off (on)', 'LIST'),
  baseline: value('polling: kombu (Python Kombu 5.2.4 consumer), raw (bare BRPOP), comma-separated', 'LIST'),
  repeat: value('polling: runs of every row; figures are medians with min-max (1)'),
  compare: { type: 'boolean', description: 'polling: compare two saved --json runs: kelp bench polling --compare a.json b.json' },
  report: value('polling: write a self-contained HTML report with charts', 'PATH'),
};

/** What `kelp bench` needs from `@kelp/bench`. */
type BenchModule = Pick<typeof import('@kelp/bench'), 'runBenchCommand'>;

/** True when `error` (or an error it wraps) says that @kelp/bench itself cannot be found. */
function isBenchMissing(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && e.message.includes("'@kelp/bench'")) return true;
  }
  return false;
}

async function loadBench(): Promise<BenchModule> {
  try {
    return await import('@kelp/bench');
  } catch (error) {
    if (!isBenchMissing(error)) throw error;
    throw new CommandFailed('kelp bench needs the benchmark package @kelp/bench, which is not published: run it from a clone of the kelp repository (npm install && npm run build)');
  }
}

export const benchCommand: Command = {
  spec: {
    name: 'bench',
    brief: 'benchmark a broker: throughput, latency, polling strategies',
    summary:
      'Benchmarks kelp on a broker: the workloads (publish, consume+ack at several prefetch counts, many queues, fanout, priorities; with a redis:// URL also two-process end-to-end runs and consumer peak RSS), or `polling` to compare queue cycles and polling modes. URL defaults to memory://. Needs the repository\'s benchmark package (@kelp/bench).',
    usage: 'kelp bench [URL] [options] | kelp bench polling URL [options] | kelp bench polling --compare A.json B.json',
    positionals: [
      { name: 'SUITE', required: false, description: 'polling, or a broker URL for the workloads (default memory://)' },
      { name: 'URL', required: false, description: 'Broker URL (for polling), or with --compare the first of two saved runs' },
      { name: 'B', required: false, description: 'With --compare: the second saved run' },
    ],
    options,
  },
  run: async ({ io, args }) => {
    const argv: string[] = [...args.positionals];
    for (const [name, spec] of Object.entries(options)) {
      if (spec.type === 'boolean') {
        if (args.has(name)) argv.push(`--${name}`);
        continue;
      }
      const given = args.string(name);
      if (given !== undefined) argv.push(`--${name}`, given);
    }
    if (args.json) argv.push('--json');
    const { runBenchCommand } = await loadBench();
    return runBenchCommand(argv, {
      stdout: (text) => void io.stdout.write(text),
      stderr: (text) => void io.stderr.write(text),
    });
  },
};
