/**
 * `kelp bench`: throughput, latency and polling-strategy benchmarks (issue 5). The benchmark
 * code lives in ../bench/ and parses its own sub-commands (`polling`, and `worker`, the child
 * process of the end-to-end workloads); this module only declares the flags for the shared
 * parser and help, and hands them over unchanged.
 */
import { BENCH_USAGE, runBenchCommand } from '../bench/index.js';
import type { Command } from '../command.js';
import type { OptionSpec } from '../args.js';

const value = (description: string, placeholder = 'N'): OptionSpec => ({ type: 'string', value: placeholder, description });

const options: Record<string, OptionSpec> = {
  workloads: value('Workloads to run, comma-separated, or all (listed above)', 'LIST'),
  messages: value('Messages per workload (20000) or per polling drain (5000)'),
  concurrency: value('Publishes in flight for the concurrent workloads (1000)'),
  backlogs: value('Backlog sizes for the consumer RSS workload (10000,100000)', 'N,N'),
  timeout: value('Seconds one phase may take before it fails (120)', 'SECONDS'),
  queues: value('polling: number of queues (10)'),
  rate: value('polling: paced phase rate in msgs/s (1000)'),
  paced: value('polling: messages in the paced phase (1000)'),
  interval: value('polling: interval mode sleep after an empty cycle (0.01)', 'SECONDS'),
  cycles: value('polling: round_robin,priority,sorted', 'LIST'),
  modes: value('polling: blocking,batched,interval', 'LIST'),
  loads: value('polling: skewed,even', 'LIST'),
  report: value('polling: write a self-contained HTML report with charts', 'PATH'),
  // The child processes of the end-to-end workloads (`kelp bench worker ...`).
  role: value('worker (internal): consumer or producer', 'ROLE'),
  url: value('worker (internal): broker URL', 'URL'),
  prefix: value('worker (internal): queue name prefix', 'PREFIX'),
  prefetch: value('worker (internal): prefetch count'),
  warmup: value('worker (internal): warm-up messages sent before the measured ones'),
  'timeout-ms': value('worker (internal): phase timeout in ms'),
  'transport-options': value('worker (internal): transport options as JSON', 'JSON'),
};

export const benchCommand: Command = {
  spec: {
    name: 'bench',
    brief: 'benchmark a broker: throughput, latency, polling strategies',
    summary: `Benchmarks kelp on a broker.\n\n${BENCH_USAGE}`,
    usage: 'kelp bench [URL] [options] | kelp bench polling URL [options]',
    positionals: [
      { name: 'SUITE', required: false, description: 'polling, or a broker URL for the workloads (default memory://)' },
      { name: 'URL', required: false, description: 'Broker URL (for polling)' },
    ],
    options,
  },
  run: async ({ io, args }) => {
    const argv: string[] = [...args.positionals];
    for (const name of Object.keys(options)) {
      const given = args.string(name);
      if (given !== undefined) argv.push(`--${name}`, given);
    }
    if (args.json) argv.push('--json');
    return runBenchCommand(argv, {
      stdout: (text) => void io.stdout.write(text),
      stderr: (text) => void io.stderr.write(text),
    });
  },
};
