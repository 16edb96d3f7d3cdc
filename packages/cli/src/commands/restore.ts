/** `kelp restore URL`: puts unacked messages back on their queues (as Kombu's restore does). */
import { requireAdmin } from '../admin.js';
import { formatNumber, jsonLine } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';
import { UsageError } from '../errors.js';

export const restoreCommand: Command = {
  spec: {
    name: 'restore',
    brief: 'put unacked messages back on their queues',
    summary:
      'Restores unacked messages to the head of their queues, marked redelivered. By default only those\n' +
      'unacked for longer than the visibility timeout. Also moves delayed messages (countdown / eta) that are\n' +
      'already due into their queues, as a running kelp consumer would. Safe to run while consumers (kelp or\n' +
      'Kombu) are running.',
    usage: 'kelp restore URL [--older-than SECONDS] [--queue Q] [--dry-run] [--json]',
    positionals: [{ name: 'URL', required: true, description: 'Broker URL, e.g. redis://localhost:6379/0' }],
    options: {
      'older-than': { type: 'string', value: 'SECONDS', description: 'Only messages unacked for longer (default: visibility timeout)' },
      queue: { type: 'string', value: 'Q', description: 'Only messages of queue Q' },
      'dry-run': { type: 'boolean', description: 'Show what would be restored, change nothing' },
    },
    examples: ['kelp restore redis://localhost/0 --older-than 60 --dry-run'],
  },
  run,
};

async function run({ io, args, signal }: CommandContext): Promise<number> {
  const [url = ''] = args.positionals;
  const olderThan = args.seconds('older-than');
  const queue = args.string('queue');
  if (queue !== undefined && queue.trim() === '') throw new UsageError('--queue must not be empty');
  const dryRun = args.flag('dry-run');
  const report = await withConnection(url, signal, (connection) =>
    requireAdmin(connection, 'restore').restore({
      dryRun,
      signal,
      ...(olderThan !== undefined ? { olderThan } : {}),
      ...(queue !== undefined ? { queue } : {}),
    }),
  );
  if (args.json) {
    io.stdout.write(jsonLine(report));
    return 0;
  }
  const verb = report.dryRun ? 'would restore' : 'restored';
  const perQueue = report.restored.map((r) => `${r.queue}: ${formatNumber(r.count)}`).join(', ');
  io.stdout.write(
    `${verb} ${formatNumber(report.total)} message${report.total === 1 ? '' : 's'} unacked for more than ` +
      `${formatNumber(report.olderThan)} s${perQueue ? ` (${perQueue})` : ''}\n`,
  );
  // Unacked messages whose route is gone were moved aside rather than dropped; say where.
  const deadLettered = report.deadLettered ?? [];
  if (deadLettered.length > 0) {
    const moved = deadLettered.map((d) => `${d.queue}: ${formatNumber(d.count)}`).join(', ');
    io.stdout.write(`${report.dryRun ? 'would dead-letter' : 'dead-lettered'} (no route any more): ${moved}\n`);
  }
  if (report.delayedMoved !== undefined) {
    io.stdout.write(`${report.dryRun ? 'would move' : 'moved'} ${formatNumber(report.delayedMoved)} delayed message(s) already due into their queues\n`);
  }
  return 0;
}
