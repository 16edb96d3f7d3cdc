/** `kelp demo [URL]`: the first thing a new user runs. Publishes, consumes, acks and reports. */
import { runDemo } from '../demo/workload.js';
import type { DemoResult } from '../demo/workload.js';
import { CommandFailed } from '../errors.js';
import { formatMs, formatNumber, jsonLine, Progress, progressMode, redactUrl, table } from '../output.js';
import { percentiles } from '../stats.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';

export const demoCommand: Command = {
  spec: {
    name: 'demo',
    brief: 'publish, consume and ack 10,000 messages; print counts, throughput, latency',
    summary:
      'Declares a direct, a topic and a fanout exchange with four queues, publishes messages round-robin\n' +
      'over them, consumes and acks them through the Hub, and prints per-queue counts, throughput and\n' +
      'publish-to-delivery latency. Exits 1 if any message was lost.',
    usage: 'kelp demo [URL] [--messages N] [--prefetch N] [--json]',
    positionals: [{ name: 'URL', required: false, description: 'Broker URL (default memory://)' }],
    options: {
      messages: { type: 'string', value: 'N', description: 'Messages to publish (default 10000)' },
      prefetch: { type: 'string', value: 'N', description: 'Prefetch count per consumer (default 100)' },
      'idle-timeout': { type: 'string', value: 'SECONDS', description: 'Give up after SECONDS without an ack (default 30)' },
    },
    examples: ['kelp demo', 'kelp demo redis://localhost:6379/0 --messages 50000 --json'],
  },
  run,
};

async function run({ io, args, signal }: CommandContext): Promise<number> {
  const url = args.positionals[0] ?? 'memory://';
  const messages = args.int('messages', { min: 1, max: 10_000_000 }, 10_000);
  const prefetch = args.int('prefetch', { min: 1, max: 65_535 }, 100);
  const idleTimeout = args.seconds('idle-timeout') ?? 30;
  const progress = new Progress(io.stderr, progressMode(io.stderr, args.json), 'kelp demo');

  const result = await withConnection(url, signal, (connection) =>
    runDemo(connection, {
      messages,
      prefetch,
      signal,
      idleTimeoutMs: idleTimeout * 1000,
      onProgress: (p) =>
        progress.update([
          { label: 'published', done: p.published, total: p.messages },
          { label: 'acked', done: p.acked, total: p.planned },
        ]),
    }),
  ).finally(() => progress.finish());

  const summary = summarize(url, result);
  io.stdout.write(args.json ? jsonLine(summary) : render(summary, result));
  if (result.lost > 0) {
    const why = result.stopped === 'interrupted' ? 'interrupted' : result.stopped === 'idle-timeout' ? `no ack for ${idleTimeout} s` : 'not acked';
    throw new CommandFailed(`${result.lost} of ${result.published} messages were lost (${why})`);
  }
  return 0;
}

export interface DemoSummary {
  url: string;
  published: number;
  consumed: number;
  acked: number;
  lost: number;
  unroutable: number;
  duplicates: number;
  stale: number;
  deliveries: DemoResult['deliveries'];
  queues: DemoResult['queues'];
  seconds: number;
  /** Acked deliveries per second. */
  throughput: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  stopped: DemoResult['stopped'];
}

function summarize(url: string, result: DemoResult): DemoSummary {
  const round = (value: number, digits: number): number => Number(value.toFixed(digits));
  const latency = percentiles(result.latencies);
  return {
    url: redactUrl(url),
    published: result.published,
    consumed: result.consumed,
    acked: result.acked,
    lost: result.lost,
    unroutable: result.unroutable,
    duplicates: result.deliveries.duplicates,
    stale: result.stale,
    deliveries: result.deliveries,
    queues: result.queues,
    seconds: round(result.seconds, 3),
    throughput: result.seconds > 0 ? Math.round(result.deliveries.acked / result.seconds) : 0,
    latencyMs: { p50: round(latency.p50, 3), p95: round(latency.p95, 3), p99: round(latency.p99, 3), max: round(latency.max, 3) },
    stopped: result.stopped,
  };
}

function render(summary: DemoSummary, result: DemoResult): string {
  const rows: (string | number)[][] = [['queue', 'exchange (type, binding)', 'published', 'consumed', 'acked']];
  for (const q of result.queues) {
    rows.push([q.queue, `${q.exchange} (${q.type}, '${q.bindingKey}')`, q.published, q.consumed, q.acked]);
  }
  const d = summary.deliveries;
  rows.push(['all queues (deliveries)', '', d.expected, d.consumed, d.acked]);
  const lines = [
    `kelp demo on ${summary.url}`,
    '',
    table(rows),
    `messages:   ${formatNumber(summary.published)} published, ${formatNumber(summary.consumed)} consumed, ` +
      `${formatNumber(summary.acked)} acked, ${formatNumber(summary.lost)} lost` +
      (summary.duplicates > 0 ? `, ${formatNumber(summary.duplicates)} duplicate deliveries` : ''),
    `throughput: ${formatNumber(summary.throughput)} msgs/s (${formatNumber(d.acked)} deliveries acked in ${summary.seconds.toFixed(2)} s)`,
    `latency:    p50 ${formatMs(summary.latencyMs.p50)}, p95 ${formatMs(summary.latencyMs.p95)}, p99 ${formatMs(summary.latencyMs.p99)} (publish to delivery)`,
  ];
  if (summary.stale > 0) lines.push(`note:       ${summary.stale} message(s) left by an earlier run were acked and not counted`);
  return `${lines.join('\n')}\n`;
}
