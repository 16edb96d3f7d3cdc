/**
 * `kelp consume URL --queue Q [...]`: prints messages, then acks them.
 *
 * At-least-once: messages are written to stdout in batches, and a batch is acked only once its
 * write is flushed (the stream's write callback), so a kill between the two means a redelivery,
 * never a loss. While one batch is being written the next one gathers, and its acks travel as
 * one command: printing to a pipe or a file is not the bottleneck.
 * SIGINT/SIGTERM: the batch being written is finished (written and acked); messages received but
 * not written yet, and prefetched ones, go back to the queue when the connection closes.
 */
import { Consumer, Exchange, Queue } from 'kelp';
import type { Connection, Message } from 'kelp';
import { CommandFailed, oneLine, UsageError } from '../errors.js';
import { BatchedWriter, jsonLine, type OutputStream } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';

const EXCHANGE_TYPES = ['direct', 'topic', 'fanout'] as const;

/**
 * Enough messages in flight to keep a batch gathering while the previous one is written and
 * acked; messages held here count against it until acked, which bounds what a stalled stdout holds.
 */
const DEFAULT_PREFETCH = 1000;

export const consumeCommand: Command = {
  spec: {
    name: 'consume',
    brief: 'print messages from a queue, acking each after it is written',
    summary:
      'Consumes messages from a queue and prints them (with --json: one JSON object per line), acking each\n' +
      'only after it was written (in batches: each batch once its write is flushed). Runs until --count\n' +
      'messages, --timeout idle seconds, or SIGINT/SIGTERM.',
    usage: 'kelp consume URL --queue Q [--exchange X --routing-key K] [options]',
    positionals: [{ name: 'URL', required: true, description: 'Broker URL, e.g. memory:// or redis://localhost:6379/0' }],
    options: {
      queue: { type: 'string', value: 'Q', description: 'Queue to consume from (declared if missing)' },
      exchange: { type: 'string', value: 'X', description: 'Bind the queue to exchange X first' },
      type: { type: 'string', value: 'TYPE', description: 'Type of exchange X: direct (default), topic or fanout' },
      'routing-key': { type: 'string', value: 'K', description: 'Routing key of the binding to X' },
      count: { type: 'string', value: 'N', description: 'Stop after N messages' },
      timeout: { type: 'string', value: 'SECONDS', description: 'Stop after SECONDS without a message' },
      'no-ack': { type: 'boolean', description: 'Consume without acknowledgements (the broker forgets on delivery)' },
      reject: { type: 'boolean', description: 'Reject each message after printing it (dropped or dead-lettered)' },
      requeue: { type: 'boolean', description: 'Requeue each message after printing it (peek)' },
      prefetch: {
        type: 'string',
        value: 'N',
        description: `Messages delivered and not yet acked, at most (default: --count up to ${DEFAULT_PREFETCH})`,
      },
      accept: {
        type: 'string',
        value: 'LIST',
        description: 'Content types or serializers to decode, comma-separated (default: json, msgpack, text, binary)',
      },
    },
    examples: ['kelp consume redis://localhost/0 --queue email --count 10 --json'],
  },
  run,
};

/**
 * A person looking at a queue wants to see what is in it. kelp has no unsafe serializer (no
 * pickle), so the CLI decodes every built-in one by default, unlike a library consumer.
 */
const DEFAULT_ACCEPT = ['application/json', 'application/x-msgpack', 'text/plain', 'application/data'];

type Settle = 'ack' | 'reject' | 'requeue' | 'none';

interface ConsumeSettings {
  queue: Queue;
  count: number | undefined;
  timeout: number | undefined;
  settle: Settle;
  prefetch: number;
  accept: string[];
  json: boolean;
}

async function run({ io, args, signal }: CommandContext): Promise<number> {
  const [url = ''] = args.positionals;
  const queueName = args.requireName('queue');
  const exchangeName = args.string('exchange');
  const type = args.choice('type', EXCHANGE_TYPES, 'direct');
  let routingKey = args.string('routing-key');
  if (exchangeName === undefined && routingKey !== undefined) throw new UsageError('--routing-key needs --exchange');
  if (exchangeName !== undefined && routingKey === undefined) {
    if (type !== 'fanout') throw new UsageError('--exchange needs --routing-key (or --type fanout)');
    routingKey = '';
  }
  const count = args.int('count', { min: 1 });
  const timeout = args.seconds('timeout');
  args.exclusive('no-ack', 'reject', 'requeue');
  const settle: Settle = args.flag('no-ack') ? 'none' : args.flag('reject') ? 'reject' : args.flag('requeue') ? 'requeue' : 'ack';
  // Prefetching more than --count would only be handed back on close.
  const prefetch = args.int('prefetch', { min: 1 }, Math.min(count ?? DEFAULT_PREFETCH, DEFAULT_PREFETCH));
  const accept = (args.string('accept')?.split(',') ?? DEFAULT_ACCEPT).map((s) => s.trim()).filter(Boolean);
  if (accept.length === 0) throw new UsageError('--accept needs at least one content type or serializer name');
  const queue =
    exchangeName !== undefined && exchangeName !== ''
      ? new Queue(queueName, { exchange: new Exchange(exchangeName, { type }), routingKey: routingKey ?? '' })
      : new Queue(queueName);

  const settings: ConsumeSettings = { queue, count, timeout, settle, prefetch, accept, json: args.json };
  const outcome = await withConnection(url, signal, (connection) => consume(connection, settings, io.stdout, signal));

  if (!args.json) {
    const why = outcome.timedOut ? ` (no message for ${timeout} s)` : signal.aborted ? ' (stopped by signal)' : '';
    const { written } = outcome;
    io.stderr.write(`kelp: consumed ${written} message${written === 1 ? '' : 's'} from ${queueName}${why}\n`);
  }
  return 0;
}

/**
 * Consumes until --count messages were written and settled, --timeout passed without a message,
 * or `signal`; resolves with how many messages were written (and settled).
 */
async function consume(
  connection: Connection,
  settings: ConsumeSettings,
  stdout: OutputStream,
  signal: AbortSignal,
): Promise<{ written: number; timedOut: boolean }> {
  const { count, timeout, settle } = settings;
  const channel = await connection.defaultChannel();
  await settings.queue.bind(channel).declare();
  let received = 0;
  let written = 0;
  let timedOut = false;
  let stopping = false;
  // Aborted once the last batch is written and settled, or on a failure: it ends the wait for deliveries.
  const finished = new AbortController();
  const writer = new BatchedWriter<Message>(
    stdout,
    (messages) => {
      written += messages.length;
      return settleAll(messages, settle);
    },
    () => finished.abort(),
  );
  const endOnceWritten = (): void => {
    stopping = true;
    void writer.drain().then(() => finished.abort());
  };
  const finish = (): void => {
    if (stopping) return;
    // Not written means not acked: closing the connection hands these back to the queue.
    writer.discardPending();
    endOnceWritten();
  };
  // One timer for the idle timeout, re-armed for what is left when it fires (not per message).
  let lastDelivery = performance.now();
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdleTimer = (idleMs: number, delay = idleMs): void => {
    idleTimer = setTimeout(() => {
      const idle = performance.now() - lastDelivery;
      if (idle < idleMs) return armIdleTimer(idleMs, idleMs - idle);
      timedOut = true;
      finish();
    }, delay);
  };
  // Built on the connection (not the channel) so that drainEvents drives its Hub.
  const consumer = new Consumer(connection, [settings.queue], {
    noAck: settle === 'none',
    prefetchCount: settings.prefetch,
    accept: settings.accept,
    autoDeclare: false,
    onMessage: (message) => {
      // Past --count or after a stop, a delivery stays unacked and goes back when the connection closes.
      if (stopping) return;
      received += 1;
      lastDelivery = performance.now();
      writer.add(message, settings.json ? jsonLine(messageRecord(message)) : `${messageText(message)}\n`);
      if (count !== undefined && received >= count) endOnceWritten();
    },
  });
  if (signal.aborted) finish();
  signal.addEventListener('abort', finish, { once: true });
  if (timeout !== undefined) armIdleTimer(timeout * 1000);
  try {
    if (!stopping) await consumer.consume();
    while (!finished.signal.aborted) {
      try {
        await connection.drainEvents({ signal: finished.signal });
      } catch (error) {
        // Ending the wait through `finished` surfaces as an abort error; that is the normal end.
        if (!finished.signal.aborted) throw error;
      }
    }
    const failure = writer.failure;
    if (failure !== undefined) throw failureError(failure, written);
  } finally {
    clearTimeout(idleTimer);
    signal.removeEventListener('abort', finish);
    // A failing cancel must not hide the error that got us here, and closing the connection
    // restores unacked messages anyway.
    await consumer.cancel().catch(() => undefined);
  }
  return { written, timedOut };
}

function settleAll(messages: readonly Message[], settle: Settle): Promise<void> | undefined {
  if (settle === 'none') return undefined;
  // Started in one tick, the settlements of a batch go to the broker together.
  const settled = messages.map((message) =>
    settle === 'ack' ? message.ack() : settle === 'reject' ? message.reject({ requeue: false }) : message.requeue(),
  );
  return Promise.all(settled).then(() => undefined);
}

function failureError(failure: { error: unknown; firstItem: Message | undefined }, written: number): Error {
  if (failure.firstItem === undefined) return failure.error instanceof Error ? failure.error : new Error(String(failure.error));
  // Not written means not acked: closing the connection hands it back to the queue.
  return new CommandFailed(
    `could not write message ${written + 1} to stdout (${describeWriteError(failure.error)}); it was not acked and goes back to the queue`,
  );
}

interface DecodedBody {
  body: unknown;
  bodyEncoding?: 'base64';
  decodeError?: string;
}

/** The decoded body; bytes (binary serializer, or a body that could not be decoded) as base64. */
function decodeBody(message: Message): DecodedBody {
  try {
    const body = message.decode();
    if (body instanceof Uint8Array) return { body: Buffer.from(body).toString('base64'), bodyEncoding: 'base64' };
    return { body };
  } catch (error) {
    return {
      body: Buffer.from(message.body).toString('base64'),
      bodyEncoding: 'base64',
      decodeError: oneLine(error instanceof Error ? error.message : String(error)),
    };
  }
}

/** One `--json` line. */
export function messageRecord(message: Message): Record<string, unknown> {
  return {
    ...decodeBody(message),
    headers: message.headers,
    properties: message.properties,
    deliveryInfo: message.deliveryInfo,
    deliveryTag: message.deliveryTag,
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
  };
}

/** Plain output: the body as text (structured bodies as JSON), one per line. */
function messageText(message: Message): string {
  const decoded = decodeBody(message);
  if (decoded.decodeError !== undefined) {
    return `[undecodable ${message.contentType ?? 'unknown'} body, base64] ${String(decoded.body)}`;
  }
  if (decoded.bodyEncoding === 'base64') return Buffer.from(String(decoded.body), 'base64').toString('utf8');
  return typeof decoded.body === 'string' ? decoded.body : JSON.stringify(decoded.body);
}

function describeWriteError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'EPIPE') return 'the reader closed the pipe';
  return typeof code === 'string' ? code : oneLine(error instanceof Error ? error.message : String(error));
}
