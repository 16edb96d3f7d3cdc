/** `kelp dead-letters URL --queue Q [--requeue]`: lists a queue's dead letters or puts them back. */
import { requireAdmin } from '../admin.js';
import type { DeadLetterEntry } from '../admin.js';
import { jsonLine } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';
import { NotSupportedError } from '../errors.js';

export const deadLettersCommand: Command = {
  spec: {
    name: 'dead-letters',
    brief: "list or requeue a queue's dead letters",
    summary:
      'Lists the messages moved aside from queue Q (malformed, rejected, past the redelivery limit) with\n' +
      'the reason, or with --requeue puts them back on Q.',
    usage: 'kelp dead-letters URL --queue Q [--requeue] [--limit N] [--json]',
    positionals: [{ name: 'URL', required: true, description: 'Broker URL, e.g. redis://localhost:6379/0' }],
    options: {
      queue: { type: 'string', value: 'Q', description: 'The queue whose dead letters to show' },
      requeue: { type: 'boolean', description: 'Put every dead letter back on the queue' },
      limit: { type: 'string', value: 'N', description: 'Show at most N entries (default 100)' },
    },
    examples: ['kelp dead-letters redis://localhost/0 --queue email --json'],
  },
  run,
};

async function run({ io, args, signal }: CommandContext): Promise<number> {
  const [url = ''] = args.positionals;
  const queue = args.requireName('queue');
  const limit = args.int('limit', { min: 1 }, 100);
  const requeue = args.flag('requeue');
  await withConnection(url, signal, async (connection) => {
    const admin = requireAdmin(connection, 'dead-letters');
    if (requeue) {
      if (!admin.requeueDeadLetters) throw new NotSupportedError('kelp dead-letters --requeue is not supported for this transport yet');
      const { requeued } = await admin.requeueDeadLetters(queue, { signal });
      io.stdout.write(args.json ? jsonLine({ queue, requeued }) : `requeued ${requeued} dead letter(s) to ${queue}\n`);
      return;
    }
    if (!admin.deadLetters) throw new NotSupportedError('kelp dead-letters is not supported for this transport yet');
    const entries = await admin.deadLetters(queue, { limit, signal });
    io.stdout.write(args.json ? jsonLine({ queue, count: entries.length, entries }) : renderDeadLetters(queue, entries));
  });
  return 0;
}

function renderDeadLetters(queue: string, entries: readonly DeadLetterEntry[]): string {
  if (entries.length === 0) return `no dead letters for ${queue}\n`;
  const lines = entries.map((entry) => {
    const at = entry.at === undefined ? '-' : new Date(entry.at * 1000).toISOString();
    const preview = entry.raw.length > 80 ? `${entry.raw.slice(0, 77)}...` : entry.raw;
    return `${at}  ${entry.reason}  ${entry.rawEncoding === 'base64' ? '[base64] ' : ''}${preview.replace(/\s+/g, ' ')}`;
  });
  return `${entries.length} dead letter(s) for ${queue}:\n${lines.join('\n')}\n`;
}
