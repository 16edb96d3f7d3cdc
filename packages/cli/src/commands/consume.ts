/**
 * `kelp consume URL --queue Q [...]`: prints messages, then acks them.
 *
 * At-least-once: each message is written to stdout and the write is flushed (the stream's write
 * callback) before it is acked, so a kill between the two means a redelivery, never a loss.
 * SIGINT/SIGTERM: the message in progress is finished (written and acked), then the consumer
 * is cancelled and the connection closed, which hands prefetched messages back to the queue.
 */
import { Consumer, Exchange, Queue } from 'kelp';
import type { Message } from 'kelp';
import { CommandFailed, oneLine, UsageError } from '../errors.js';
import { jsonLine, writeFlushed } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';

const EXCHANGE_TYPES = ['direct', 'topic', 'fanout'] as const;

export const consumeCommand: Command = {
  spec: {
    name: 'consume',
    brief: 'print messages from a queue, acking each after it is written',
    summary:
      'Consumes messages from a queue and prints them (with --json: one JSON object per line), acking each\n' +
      'only after it was written. Runs until --count messages, --timeout idle seconds, or SIGINT/SIGTERM.',
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
      prefetch: { type: 'string', value: 'N', description: 'Prefetch count (default: --count up to 100)' },
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
  const prefetch = args.int('prefetch', { min: 1 }, Math.min(count ?? 100, 100));
  const accept = (args.string('accept')?.split(',') ?? DEFAULT_ACCEPT).map((s) => s.trim()).filter(Boolean);
  if (accept.length === 0) throw new UsageError('--accept needs at least one content type or serializer name');

  let received = 0;
  let timedOut = false;
  await withConnection(url, signal, async (connection) => {
    const channel = await connection.defaultChannel();
    const queue =
      exchangeName !== undefined && exchangeName !== ''
        ? new Queue(queueName, { exchange: new Exchange(exchangeName, { type }), routingKey: routingKey ?? '' })
        : new Queue(queueName);
    await queue.bind(channel).declare();
    // Built on the connection (not the channel) so that waiting for a message drives the
    // connection's Hub through drainEvents.
    const consumer = new Consumer(connection, [queue], {
      noAck: settle === 'none',
      prefetchCount: prefetch,
      accept,
      autoDeclare: false,
    });

    // `stop` ends the wait for the next message. It is never aborted while a message is being
    // written and acked: a signal then only marks `stopping`, and the loop ends after it.
    const stop = new AbortController();
    let busy = false;
    let stopping = false;
    const requestStop = (): void => {
      stopping = true;
      if (!busy) stop.abort();
    };
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdleTimer = (): void => {
      if (timeout === undefined) return;
      idleTimer = setTimeout(() => {
        timedOut = true;
        requestStop();
      }, timeout * 1000);
    };
    if (signal.aborted) requestStop();
    signal.addEventListener('abort', requestStop, { once: true });
    armIdleTimer();
    try {
      for await (const message of consumer.messages({ signal: stop.signal })) {
        busy = true;
        clearTimeout(idleTimer);
        received += 1;
        try {
          await writeFlushed(io.stdout, args.json ? jsonLine(messageRecord(message)) : `${messageText(message)}\n`);
        } catch (error) {
          // Not written means not acked: closing the connection hands it back to the queue.
          throw new CommandFailed(
            `could not write message ${received} to stdout (${describeWriteError(error)}); it was not acked and goes back to the queue`,
          );
        }
        if (settle === 'ack') await message.ack();
        else if (settle === 'reject') await message.reject({ requeue: false });
        else if (settle === 'requeue') await message.requeue();
        busy = false;
        if (stopping || (count !== undefined && received >= count)) break;
        armIdleTimer();
      }
    } catch (error) {
      // Ending the wait through `stop` may surface as an abort error; that is a normal end.
      if (!stop.signal.aborted) throw error;
    } finally {
      clearTimeout(idleTimer);
      signal.removeEventListener('abort', requestStop);
      // Leaving the loop cancelled already; this covers the error path. A failing cancel must not
      // hide the error that got us here, and closing the connection restores unacked messages anyway.
      await consumer.cancel().catch(() => undefined);
    }
  });

  if (!args.json) {
    const why = timedOut ? ` (no message for ${timeout} s)` : signal.aborted ? ' (stopped by signal)' : '';
    io.stderr.write(`kelp: consumed ${received} message${received === 1 ? '' : 's'} from ${queueName}${why}\n`);
  }
  return 0;
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
