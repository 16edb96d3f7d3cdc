/** `kelp bench`: placeholder until the benchmark suite lands (issue 5). */
import type { Command } from '../command.js';
import { NotSupportedError } from '../errors.js';

export const benchCommand: Command = {
  spec: {
    name: 'bench',
    brief: 'benchmark a broker (not yet available)',
    summary: 'Benchmarks a broker (throughput, latency, polling strategies). Not yet available.',
    usage: 'kelp bench [polling] URL [options]',
    positionals: [
      { name: 'SUITE', required: false, description: 'Which benchmark (e.g. polling)' },
      { name: 'URL', required: false, description: 'Broker URL' },
    ],
    options: {
      queues: { type: 'string', value: 'N', description: 'Number of queues' },
      messages: { type: 'string', value: 'N', description: 'Number of messages' },
      report: { type: 'string', value: 'PATH', description: 'Write an HTML report' },
    },
  },
  run: async () => {
    throw new NotSupportedError('kelp bench is not yet available (use npm run bench in a kelp checkout for now)');
  },
};
