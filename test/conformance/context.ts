/**
 * Shared plumbing of the conformance suite: the options a transport's test file passes in, the
 * per-test context (connections that are closed after each test, unique names) and small helpers
 * that drive consumption through the public API only.
 *
 * Every test file shares one broker (one memory:// name or one Redis db per file), so tests never
 * reuse a queue or exchange name: {@link SuiteContext.name} hands out fresh ones.
 */
import { afterEach, beforeEach } from 'vitest';
import {
  Connection,
  Exchange,
  OperationTimeoutError,
  Producer,
  Queue,
  type ExchangeType,
  type Message,
  type PublishResult,
  type TransportAdmin,
} from 'kelp';

export interface ConformanceOptions {
  /** The broker URL; called once per connection, so a transport may hand out a fresh one. */
  url: () => string | Promise<string>;
  /** Transport options every connection of the suite gets (tests add their own on top). */
  transportOptions?: Record<string, unknown>;
  /** True when unacked messages are redelivered after `visibilityTimeout` seconds (Redis). */
  supportsVisibilityTimeout: boolean;
  /**
   * Seconds `drainEvents` waits before a test concludes that nothing more is coming (prefetch
   * limits, cancelled consumers). Default 0.3; a remote broker may need more.
   */
  idleSeconds?: number;
  /**
   * Tests this transport (in this mode) does not pass by design, each matched by a part of its
   * full name, with the reason. They are reported as skipped with `unsupported: <reason>` as
   * their note, never silently.
   */
  unsupported?: readonly UnsupportedCase[];
}

export interface UnsupportedCase {
  /** A substring of the test's full name (describe blocks and title), or a pattern. */
  test: string | RegExp;
  reason: string;
}

export interface SuiteContext {
  readonly options: ConformanceOptions;
  readonly idleSeconds: number;
  /** A new connection (closed after the test), with the suite's transport options plus `extra`. */
  connection(extra?: Record<string, unknown>): Promise<Connection>;
  /** A name no other test of this file uses: `<prefix>-<run>-<n>`. */
  name(prefix: string): string;
}

let runCounter = 0;

/** Creates the context; must be called inside a `describe` so its hooks apply to that block. */
export function createSuiteContext(options: ConformanceOptions): SuiteContext {
  const run = `${process.pid.toString(36)}${(runCounter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  let counter = 0;
  let open: Connection[] = [];

  const unsupported = options.unsupported ?? [];
  beforeEach((context) => {
    open = [];
    const fullName = context.task.fullName;
    const entry = unsupported.find((each) => (typeof each.test === 'string' ? fullName.includes(each.test) : each.test.test(fullName)));
    if (entry === undefined) return;
    context.skip(`unsupported: ${entry.reason}`);
  });

  afterEach(async () => {
    // Close in reverse order so a consumer's connection goes before the one that fed it.
    const toClose = open.reverse();
    open = [];
    let firstError: unknown;
    for (const conn of toClose) {
      try {
        await conn.close();
      } catch (error) {
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
  });

  return {
    options,
    idleSeconds: options.idleSeconds ?? 0.3,
    async connection(extra) {
      const url = await options.url();
      const transportOptions = { ...options.transportOptions, ...extra };
      const conn = new Connection(url, { transportOptions });
      open.push(conn);
      return conn;
    },
    name(prefix) {
      counter += 1;
      return `${prefix}-${run}-${counter}`;
    },
  };
}

/** Declares an exchange on the connection's default channel and returns the unbound Exchange. */
export async function declareExchange(conn: Connection, name: string, type: ExchangeType): Promise<Exchange> {
  const exchange = new Exchange(name, { type });
  await exchange.bind(await conn.defaultChannel()).declare();
  return exchange;
}

/**
 * Declares a queue (and its exchange and binding) on the connection's default channel and
 * returns the queue bound to that channel, ready for `get`/`purge`.
 */
export async function declareQueue(
  conn: Connection,
  name: string,
  options: ConstructorParameters<typeof Queue>[1] = {},
): Promise<Queue> {
  const queue = new Queue(name, options).bind(await conn.defaultChannel());
  await queue.declare();
  return queue;
}

/** The connection's admin (inspect, dead letters); fails the test when the transport has none. */
export function adminOf(conn: Connection): TransportAdmin {
  const { admin } = conn.transport;
  if (!admin) throw new Error(`the ${conn.transport.driverName} transport has no admin`);
  return admin;
}

/** Publishes one body through a Producer on the connection's default channel. */
export async function publish(
  conn: Connection,
  body: unknown,
  options: Parameters<Producer['publish']>[1] = {},
): Promise<PublishResult> {
  const producer = new Producer(await conn.defaultChannel());
  return producer.publish(body, options);
}

/** Takes every waiting message with `get({ noAck: true })` and returns their decoded payloads. */
export async function drainQueue(queue: Queue, accept?: readonly string[]): Promise<unknown[]> {
  const payloads: unknown[] = [];
  for (let i = 0; i < 1000; i++) {
    const message = await queue.get(accept ? { noAck: true, accept: [...accept] } : { noAck: true });
    if (!message) return payloads;
    payloads.push(message.payload);
  }
  throw new Error('drainQueue: more than 1000 messages; a redelivery loop?');
}

/** Runs `drainEvents` until `done()` holds; fails after `timeoutSeconds`. */
export async function drainUntil(conn: Connection, done: () => boolean, timeoutSeconds = 5): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (!done()) {
    const left = (deadline - Date.now()) / 1000;
    if (left <= 0) throw new Error(`drainUntil: condition not met within ${timeoutSeconds} s`);
    try {
      await conn.drainEvents({ timeout: Math.min(left, 1) });
    } catch (error) {
      if (!(error instanceof OperationTimeoutError)) throw error;
    }
  }
}

/**
 * Runs `drainEvents` until one call times out, i.e. until the transport delivers nothing more
 * for `idleSeconds`. Used to count what a consumer got before acking anything.
 */
export async function drainIdle(conn: Connection, idleSeconds: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await conn.drainEvents({ timeout: idleSeconds });
    } catch (error) {
      if (error instanceof OperationTimeoutError) return;
      throw error;
    }
  }
  throw new Error('drainIdle: deliveries never stopped (200 rounds)');
}

/** Collects the messages a consumer receives, in order. */
export interface Collector {
  readonly messages: Message[];
  readonly onMessage: (message: Message) => void;
  payloads(): unknown[];
}

export function collector(): Collector {
  const messages: Message[] = [];
  return {
    messages,
    onMessage: (message) => {
      messages.push(message);
    },
    payloads: () => messages.map((m) => m.payload),
  };
}

/** Captures what a call throws or rejects with (sync throws included); fails if it succeeds. */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Kombu delivery tags are UUID4 strings (docs/wire-format.md#envelope-fields). */
export const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
