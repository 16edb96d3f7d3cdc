/** `kelp dead-letters URL --queue Q [--requeue]`: lists a queue's dead letters or puts them back. */
import { requireAdmin } from '../admin.js';
import type { DeadLetterEntry } from 'kelp';
import { jsonLine } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';

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
      limit: { type: 'string', value: 'N', description: 'At most N entries to show (default 100) or requeue (default all)' },
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
      // Requeue takes them all unless --limit was given; listing shows 100 by default.
      const requeueLimit = args.int('limit', { min: 1 });
      const { requeued, skipped } = await admin.requeueDeadLetters(queue, {
        signal,
        ...(requeueLimit !== undefined ? { limit: requeueLimit } : {}),
      });
      const note = skipped > 0 ? ` (${skipped} skipped: not valid messages, they stay in the dead-letter list)` : '';
      io.stdout.write(args.json ? jsonLine({ queue, requeued, skipped }) : `requeued ${requeued} dead letter(s) to ${queue}${note}\n`);
      return;
    }
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
