/** `kelp publish URL --exchange X --routing-key K [...] BODY`: publishes one or many messages. */
import { ConfigurationError, DEFAULT_CONFIRM_TIMEOUT, Exchange, parseDelay, Producer, PublishNotConfirmedError, Queue } from 'kelp';
import type { PublishOptions, PublishResult } from 'kelp';
import { UsageError, CommandFailed } from '../errors.js';
import { jsonLine } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';
import { readLines } from '../stdin.js';

const EXCHANGE_TYPES = ['direct', 'topic', 'fanout'] as const;
/** Publishes in flight at once for bulk loads: enough to pipeline, bounded so memory stays flat. */
const WINDOW = 100;

export const publishCommand: Command = {
  spec: {
    name: 'publish',
    brief: 'publish a body (or one per stdin line) to an exchange',
    summary:
      'Publishes BODY to an exchange. With BODY "-", publishes one body per line read from stdin.\n' +
      'With --serializer json (the default) a BODY that is valid JSON is sent as that value, anything else as a JSON string.',
    usage: 'kelp publish URL --exchange X --routing-key K [options] BODY',
    positionals: [
      { name: 'URL', required: true, description: 'Broker URL, e.g. memory:// or redis://localhost:6379/0' },
      { name: 'BODY', required: true, description: 'The message body, or - to read one body per line from stdin' },
    ],
    options: {
      exchange: { type: 'string', value: 'X', description: 'Exchange to publish to ("" for the default exchange)' },
      type: { type: 'string', value: 'TYPE', description: 'Exchange type: direct (default), topic or fanout' },
      'routing-key': { type: 'string', value: 'K', description: 'Routing key (may be omitted for fanout)' },
      queue: { type: 'string', value: 'Q', description: 'Declare queue Q bound to X with K before publishing' },
      priority: { type: 'string', value: 'N', description: 'Message priority, 0-9' },
      serializer: { type: 'string', value: 'S', description: 'json (default), msgpack, text, binary or a registered one' },
      compression: { type: 'string', value: 'C', description: 'zlib, gzip, brotli or a registered one' },
      header: { type: 'string', value: 'k=v', multiple: true, description: 'A message header' },
      count: { type: 'string', value: 'N', description: 'Publish each body N times (default 1)' },
      confirm: { type: 'string', value: 'N', description: 'Wait until N Redis replicas hold each message (WAIT)' },
      'confirm-timeout': { type: 'string', value: 'S', description: 'Seconds to wait for them (default 1; with --confirm)' },
      countdown: { type: 'string', value: 'S', description: 'Delayed delivery: visible in its queue S seconds from now' },
      eta: { type: 'string', value: 'TIME', description: 'Delayed delivery at an ISO 8601 time, e.g. 2030-01-31T12:00:00Z' },
    },
    examples: [
      'kelp publish memory:// --exchange tasks --routing-key email --queue email \'{"to":"a@b.c"}\'',
      'seq 1 1000 | kelp publish redis://localhost/0 --exchange tasks --routing-key n --queue numbers -',
      'kelp publish redis://localhost/0 --exchange tasks --routing-key email --confirm 1 \'{"to":"a@b.c"}\'',
      'kelp publish redis://localhost/0 --exchange \'\' --routing-key reminders --countdown 3600 \'{"call":"back"}\'',
    ],
  },
  run,
};

interface Tally {
  published: number;
  routed: number;
  deadLettered: number;
  unroutable: number;
  /** Refused by a queue at its length limit (x-overflow reject-publish). */
  rejected: number;
  rejectedBy: Set<string>;
  queues: Set<string>;
  subscribers: number | undefined;
  lastDeliveryTag: string | undefined;
  /** Stored, but fewer replicas than --confirm asked for acknowledged them in time. */
  unconfirmed: number;
  /** Routed into delayed sets (--countdown / --eta in the future). */
  delayed: number;
}

async function run({ io, args, signal }: CommandContext): Promise<number> {
  const [url = '', body = ''] = args.positionals;
  const exchangeName = args.requireString('exchange');
  const type = args.choice('type', EXCHANGE_TYPES, 'direct');
  const routingKey = args.string('routing-key') ?? (type === 'fanout' ? '' : args.requireString('routing-key'));
  const queueName = args.string('queue');
  if (queueName !== undefined && queueName.trim() === '') throw new UsageError('--queue must not be empty');
  const priority = args.int('priority', { min: 0, max: 9 });
  const serializer = args.string('serializer') ?? 'json';
  const compression = args.string('compression');
  const headers = parseHeaders(args.strings('header'));
  const count = args.int('count', { min: 1 }, 1);
  const confirm = confirmOption(args);
  const delay = delayOption(args);
  if (body === '-' && !io.stdin) throw new UsageError('BODY "-" needs standard input to read bodies from');

  const tally: Tally = {
    published: 0,
    routed: 0,
    deadLettered: 0,
    unroutable: 0,
    rejected: 0,
    rejectedBy: new Set(),
    queues: new Set(),
    subscribers: undefined,
    lastDeliveryTag: undefined,
    unconfirmed: 0,
    delayed: 0,
  };

  await withConnection(url, signal, async (connection) => {
    const channel = await connection.defaultChannel();
    // The default exchange ('') exists already and cannot be declared.
    const exchange = exchangeName === '' ? undefined : new Exchange(exchangeName, { type });
    if (exchange) await exchange.bind(channel).declare();
    if (queueName !== undefined) {
      const queue = exchange ? new Queue(queueName, { exchange, routingKey }) : new Queue(queueName);
      await queue.bind(channel).declare();
    }
    const producer = new Producer(channel, { serializer, autoDeclare: false });
    const options: PublishOptions = {
      ...(confirm !== undefined ? { confirm } : {}),
      exchange: exchangeName,
      routingKey,
      serializer,
      headers,
      ...(compression !== undefined ? { compression } : {}),
      ...(priority !== undefined ? { priority } : {}),
      ...delay,
    };
    let inFlight: Promise<void>[] = [];
    const publishOne = async (text: string): Promise<void> => {
      try {
        record(tally, await producer.publish(toPayload(text, serializer), options));
      } catch (error) {
        // Stored all the same: counted, and reported as unconfirmed at the end.
        if (!(error instanceof PublishNotConfirmedError)) throw error;
        record(tally, error.result);
        tally.unconfirmed += 1;
      }
    };
    const bodies = body === '-' && io.stdin ? readLines(io.stdin) : single(body);
    for await (const text of bodies) {
      for (let i = 0; i < count && !signal.aborted; i += 1) {
        inFlight.push(publishOne(text));
        if (inFlight.length >= WINDOW) {
          await Promise.all(inFlight);
          inFlight = [];
        }
      }
      if (signal.aborted) break;
    }
    await Promise.all(inFlight);
  });

  report(io, args.json, tally, exchangeName, routingKey, confirm);
  if (tally.unconfirmed > 0 && confirm !== undefined) {
    throw new CommandFailed(
      `${tally.unconfirmed} of ${tally.published} message(s) were stored but not confirmed by ${confirm.replicas} replica(s) ` +
        `within ${confirm.timeout} s; they stay queued`,
    );
  }
  if (tally.rejected > 0) {
    throw new CommandFailed(
      `${tally.rejected} of ${tally.published} message(s) were refused by a full queue (x-overflow reject-publish): ${[...tally.rejectedBy].sort().join(', ')}`,
    );
  }
  if (tally.unroutable > 0) {
    const where =
      type === 'fanout'
        ? `no queue is bound to fanout exchange '${exchangeName}' (on Redis, fanout reaches only running consumers)`
        : `no queue is bound to exchange '${exchangeName}' with routing key '${routingKey}' (add --queue Q to declare and bind one)`;
    throw new CommandFailed(`${tally.unroutable} of ${tally.published} message(s) were unroutable: ${where}`);
  }
  return 0;
}

function record(tally: Tally, result: PublishResult): void {
  tally.published += 1;
  tally.lastDeliveryTag = result.deliveryTag;
  if (result.deliverAt !== undefined) tally.delayed += 1;
  if (result.status === 'routed') tally.routed += 1;
  else if (result.status === 'dead-lettered') tally.deadLettered += 1;
  else if (result.status === 'rejected') {
    tally.rejected += 1;
    for (const queue of result.rejected ?? []) tally.rejectedBy.add(queue);
  } else tally.unroutable += 1;
  for (const queue of result.queues) tally.queues.add(queue);
  if (result.subscribers !== undefined) tally.subscribers = (tally.subscribers ?? 0) + result.subscribers;
}

/** `--countdown S` or `--eta TIME` as publish options, checked before connecting (bad usage exits 2). */
function delayOption(args: CommandContext['args']): { countdown: number } | { eta: string } | Record<string, never> {
  const countdown = args.seconds('countdown');
  const eta = args.string('eta');
  try {
    parseDelay(countdown, eta, 'kelp publish');
  } catch (error) {
    if (error instanceof ConfigurationError) throw new UsageError(`--${error.option ?? 'eta'}: ${error.message.replace(/^kelp publish: /, '')}`);
    throw error;
  }
  if (countdown !== undefined) return { countdown };
  return eta === undefined ? {} : { eta };
}

/** `--confirm N [--confirm-timeout S]` as a publish `confirm`. */
function confirmOption(args: CommandContext['args']): { replicas: number; timeout: number } | undefined {
  const replicas = args.int('confirm', { min: 1 });
  const timeout = args.seconds('confirm-timeout');
  if (replicas === undefined) {
    if (timeout !== undefined) throw new UsageError('--confirm-timeout needs --confirm N');
    return undefined;
  }
  if (timeout === 0) throw new UsageError('--confirm-timeout must be above 0');
  return { replicas, timeout: timeout ?? DEFAULT_CONFIRM_TIMEOUT };
}

function report(
  io: CommandContext['io'],
  json: boolean,
  tally: Tally,
  exchange: string,
  routingKey: string,
  confirm: { replicas: number } | undefined,
): void {
  const queues = [...tally.queues].sort();
  if (json) {
    io.stdout.write(
      jsonLine({
        published: tally.published,
        exchange,
        routingKey,
        routed: tally.routed,
        deadLettered: tally.deadLettered,
        unroutable: tally.unroutable,
        ...(tally.rejected > 0 ? { rejected: tally.rejected } : {}),
        ...(tally.delayed > 0 ? { delayed: tally.delayed } : {}),
        queues,
        ...(tally.subscribers !== undefined ? { subscribers: tally.subscribers } : {}),
        ...(confirm !== undefined ? { unconfirmed: tally.unconfirmed } : {}),
        ...(tally.published === 1 ? { deliveryTag: tally.lastDeliveryTag } : {}),
      }),
    );
    return;
  }
  const noun = tally.published === 1 ? 'message' : 'messages';
  const parts = [`${tally.routed} routed`];
  if (tally.deadLettered > 0) parts.push(`${tally.deadLettered} dead-lettered`);
  if (tally.unroutable > 0) parts.push(`${tally.unroutable} unroutable`);
  if (tally.rejected > 0) parts.push(`${tally.rejected} rejected by a full queue`);
  if (tally.delayed > 0) parts.push(`${tally.delayed} delayed (visible once due and moved by a kelp process running a hub)`);
  if (tally.unconfirmed > 0) parts.push(`${tally.unconfirmed} not confirmed by ${confirm?.replicas} replica(s)`);
  const where = queues.length > 0 ? ` to ${queues.join(', ')}` : '';
  const subs = tally.subscribers !== undefined ? ` (${tally.subscribers} subscriber deliveries)` : '';
  io.stdout.write(
    `published ${tally.published} ${noun} to exchange '${exchange}' with routing key '${routingKey}': ` +
      `${parts.join(', ')}${where}${subs}\n`,
  );
}

/** `k=v` pairs; the value keeps any further `=`. */
export function parseHeaders(pairs: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--header must be key=value, got '${pair}'`);
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return headers;
}

/**
 * The value handed to the serializer. Structured serializers get parsed JSON when the text is
 * JSON (so `'{"a":1}'` arrives as an object), binary ones the UTF-8 bytes, the rest the text.
 */
export function toPayload(text: string, serializer: string): unknown {
  if (serializer === 'json' || serializer === 'msgpack') {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  if (serializer === 'binary' || serializer === 'raw') return new Uint8Array(Buffer.from(text, 'utf8'));
  return text;
}

async function* single(text: string): AsyncGenerator<string> {
  yield text;
}
