/** `kelp inspect URL`: exchanges with bindings, queues with lengths, unacked counts and ages. */
import { requireAdmin } from '../admin.js';
import type { InspectReport } from 'kelp';
import { formatNumber, jsonLine, table } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';

export const inspectCommand: Command = {
  spec: {
    name: 'inspect',
    brief: 'list exchanges, bindings, queue lengths and unacked messages',
    summary:
      'Lists exchanges with their bindings and every queue with its length (priority sub-lists summed),\n' +
      'unacked count, oldest unacked age, dead letters, drops and delayed messages (countdown / eta) with\n' +
      'the next due time. Works on keys written by Python Kombu/Celery.',
    usage: 'kelp inspect URL [--json]',
    positionals: [{ name: 'URL', required: true, description: 'Broker URL, e.g. redis://localhost:6379/0' }],
    options: {},
    examples: ['kelp inspect redis://localhost:6379/0 --json'],
  },
  run,
};

async function run({ io, args, signal }: CommandContext): Promise<number> {
  const [url = ''] = args.positionals;
  const report = await withConnection(url, signal, (connection) => requireAdmin(connection, 'inspect').inspect({ signal }));
  io.stdout.write(args.json ? jsonLine(report) : renderInspect(report));
  return 0;
}

/** `3 (in 12 s)`: delayed messages and when the next is due (`due` once its time has come). */
function delayedCell(delayed: number | undefined, nextDueAt: number | undefined, now: number): string {
  if (!delayed) return '-';
  if (nextDueAt === undefined) return String(delayed);
  const wait = nextDueAt - now;
  return `${formatNumber(delayed)} (${wait > 0 ? `in ${formatNumber(Math.round(wait * 10) / 10)} s` : 'due'})`;
}

export function renderInspect(report: InspectReport): string {
  const out: string[] = [];
  out.push('Exchanges');
  if (report.exchanges.length === 0) out.push('  (none)\n');
  else {
    const rows: (string | number)[][] = [['name', 'type', 'bindings (routing key -> queue)']];
    for (const exchange of report.exchanges) {
      const bindings = exchange.bindings.map((b) => `${b.routingKey || "''"} -> ${b.queue}`).join(', ');
      rows.push([exchange.name || "''", exchange.type, bindings || '-']);
    }
    out.push(table(rows));
  }
  out.push('Queues');
  if (report.queues.length === 0) out.push('  (none)\n');
  else {
    const rows: (string | number)[][] = [['queue', 'ready', 'by priority', 'unacked', 'oldest unacked', 'dead letters', 'dropped', 'delayed (next due)']];
    const now = Date.now() / 1000;
    for (const queue of report.queues) {
      const byPriority = Object.entries(queue.priorityLengths ?? {})
        .filter(([, n]) => n > 0)
        .map(([p, n]) => `${p}:${n}`)
        .join(' ');
      rows.push([
        queue.name,
        queue.length,
        byPriority || '-',
        queue.unacked,
        queue.oldestUnackedAge === null ? '-' : `${formatNumber(queue.oldestUnackedAge)} s`,
        queue.deadLetters ?? 0,
        Object.entries(queue.dropped ?? {})
          .map(([reason, n]) => `${reason}:${n}`)
          .join(' ') || '-',
        delayedCell(queue.delayed, queue.nextDueAt, now),
      ]);
    }
    out.push(table(rows));
  }
  out.push(
    `unacked: ${formatNumber(report.unackedTotal)} (restored after a visibility timeout of ${formatNumber(report.visibilityTimeout)} s)\n`,
  );
  return out.join('\n');
}
