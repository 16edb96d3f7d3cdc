/**
 * The one place where the benchmarks touch kelp's public API: opening a connection, declaring
 * bench queues, publishing with a timestamp header, and consuming with acks until a count is
 * reached. Workloads are written on top of these helpers so that they read as "prefill, drain,
 * measure" and so that an API change is fixed here once.
 */
import { Connection, Consumer, Exchange, Producer, Queue } from 'kelp';
import type { Message } from 'kelp';
import { performance } from 'node:perf_hooks';

/** Header that carries the publish time (ms, wall-clock based, sub-ms precision) for latency. */
export const TIMESTAMP_HEADER = 'x-bench-ts';
/** Marks messages that only warm up the path (probes, JIT, connections): not counted in latency. */
export const WARMUP_HEADER = 'x-bench-warmup';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one host. */
export function wallNow(): number {
  return TIME_ORIGIN + performance.now();
}

/** Read once: the getter costs ~0.4 us, which showed up in publish profiles. */
const TIME_ORIGIN = performance.timeOrigin;

/** A ~200-byte JSON body, as in the reference measurements. */
export function benchBody(seq: number): Record<string, unknown> {
  return { seq, kind: 'bench', text: 'x'.repeat(160) };
}

export interface BenchConnectionOptions {
  transportOptions?: Record<string, unknown>;
}

export function openConnection(url: string, options: BenchConnectionOptions = {}): Connection {
  const connection = options.transportOptions ? new Connection(url, { transportOptions: options.transportOptions }) : new Connection(url);
  // The benches run the connection's own Hub directly (hub.runUntil), so the transport must be
  // attached to it up front; drainEvents would do this lazily, but it stops at one delivery.
  connection.registerWithEventLoop(connection.hub);
  return connection;
}

/** Closes the connection and its Hub (registerWithEventLoop hands the Hub's lifetime to us). */
export async function closeConnection(connection: Connection): Promise<void> {
  try {
    await connection.close();
  } finally {
    connection.hub.close();
  }
}

export type BenchChannel = Awaited<ReturnType<Connection['channel']>>;

/** A direct exchange with `names.length` queues, each bound with its own name as routing key. */
export interface BenchTopology {
  exchange: Exchange;
  queues: Queue[];
  names: string[];
}

/** Unique per run, so benches never read each other's leftovers on a shared Redis. */
export function benchPrefix(): string {
  return `kelp.bench.${process.pid}.${Date.now().toString(36)}`;
}

export async function declareDirect(
  channel: BenchChannel,
  prefix: string,
  count: number,
  options: { maxPriority?: number; queueArguments?: Record<string, unknown> } = {},
): Promise<BenchTopology> {
  const exchange = new Exchange(`${prefix}.x`, { type: 'direct', durable: false });
  await exchange.bind(channel).declare();
  const names = Array.from({ length: count }, (_, i) => `${prefix}.q${String(i).padStart(4, "0")}`);
  const extra = options.queueArguments === undefined ? {} : { queueArguments: options.queueArguments };
  const queues = names.map((name) =>
    options.maxPriority === undefined
      ? new Queue(name, { exchange, routingKey: name, durable: false, ...extra })
      : new Queue(name, { exchange, routingKey: name, durable: false, maxPriority: options.maxPriority, ...extra }),
  );
  for (const queue of queues) await queue.bind(channel).declare();
  return { exchange, queues, names };
}

export async function declareFanout(channel: BenchChannel, prefix: string, count: number): Promise<BenchTopology> {
  const exchange = new Exchange(`${prefix}.fx`, { type: 'fanout', durable: false });
  await exchange.bind(channel).declare();
  const names = Array.from({ length: count }, (_, i) => `${prefix}.f${i}`);
  const queues = names.map((name) => new Queue(name, { exchange, routingKey: '', durable: false }));
  for (const queue of queues) await queue.bind(channel).declare();
  return { exchange, queues, names };
}

/** Removes what a bench declared; failures are ignored because cleanup must not hide a result. */
export async function dropTopology(channel: BenchChannel, topology: BenchTopology): Promise<void> {
  for (const queue of topology.queues) {
    try {
      await queue.bind(channel).delete();
    } catch {
      // best effort
    }
  }
  try {
    await topology.exchange.bind(channel).delete();
  } catch {
    // best effort
  }
}

export interface PublishSpec {
  routingKey: string;
  priority?: number;
  seq: number;
  /** A warm-up message (WARMUP_HEADER): delivered and acked, left out of latency figures. */
  warmup?: boolean;
}

export function makeProducer(channel: BenchChannel, exchange: Exchange): Producer {
  return new Producer(channel, { exchange, autoDeclare: false });
}

/** Publishes one bench message stamped with the current time. */
export function publishOne(producer: Producer, spec: PublishSpec): Promise<unknown> {
  const headers: Record<string, number | boolean> = { [TIMESTAMP_HEADER]: wallNow() };
  if (spec.warmup) headers[WARMUP_HEADER] = true;
  return spec.priority === undefined
    ? producer.publish(benchBody(spec.seq), { routingKey: spec.routingKey, headers })
    : producer.publish(benchBody(spec.seq), { routingKey: spec.routingKey, headers, priority: spec.priority });
}

/**
 * Publishes `specs` keeping up to `window` publishes in flight (window 1 = awaited one at a
 * time). Resolves when the broker has accepted every one.
 */
export async function publishWindowed(producer: Producer, specs: readonly PublishSpec[], window: number): Promise<void> {
  if (window <= 1) {
    for (const spec of specs) await publishOne(producer, spec);
    return;
  }
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < specs.length) {
      const spec = specs[next] as PublishSpec;
      next += 1;
      await publishOne(producer, spec);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, specs.length) }, lane));
}

/** Messages for `counts[i]` on queue i, interleaved round-robin so no queue is filled first. */
export function interleavedSpecs(names: readonly string[], counts: readonly number[], priorities?: readonly number[]): PublishSpec[] {
  const specs: PublishSpec[] = [];
  const left = [...counts];
  let seq = 0;
  for (let more = true; more; ) {
    more = false;
    for (let q = 0; q < names.length; q += 1) {
      if ((left[q] as number) <= 0) continue;
      left[q] = (left[q] as number) - 1;
      more = true;
      const spec: PublishSpec = { routingKey: names[q] as string, seq };
      const priority = priorities?.[seq % priorities.length];
      if (priority !== undefined) spec.priority = priority;
      specs.push(spec);
      seq += 1;
    }
  }
  return specs;
}

/** What a drain saw for each message, for latency and fairness. */
export interface DrainObserver {
  onMessage?(message: Message, queueIndex: number, now: number): void;
}

export interface ConsumeOptions {
  prefetch: number;
  observer?: DrainObserver;
  noAck?: boolean;
  /** Only messages this accepts count towards `received`/`acked` (all are acked). */
  countIf?: (message: Message) => boolean;
}

/** The queue a delivery came from, as an index into `names` (-1 when unknown). */
function queueIndexOf(message: Message, index: Map<string, number>): number {
  const info = message.deliveryInfo as { queue?: string; routingKey?: string };
  const key = info.queue ?? info.routingKey;
  return key === undefined ? -1 : (index.get(key) ?? -1);
}

/** Counts deliveries and completed acks over one or more consumers. */
export class AckCounter {
  received = 0;
  acked = 0;
  failure: unknown;
  readonly consumers: Consumer[] = [];
  /** Wakes the Hub when an ack completes outside a Hub callback (a resolved promise) and may end a wait. */
  private wake: (() => void) | undefined;

  /** Starts a consumer on `channel` over `topology`'s queues that acks every message. */
  async attach(channel: BenchChannel, topology: BenchTopology, options: ConsumeOptions): Promise<Consumer> {
    const index = new Map(topology.names.map((name, i) => [name, i] as const));
    const onAcked = (): void => {
      this.acked += 1;
      this.wake?.();
    };
    const ignore = (): void => undefined;
    const onFailed = (error: unknown): void => {
      this.failure ??= error;
    };
    const consumer = new Consumer(channel, topology.queues, {
      prefetchCount: options.prefetch,
      noAck: options.noAck ?? false,
      autoDeclare: false,
      onMessage: (message: Message) => {
        const counted = options.countIf?.(message) ?? true;
        if (counted) {
          this.received += 1;
          options.observer?.onMessage?.(message, queueIndexOf(message, index), wallNow());
        }
        if (options.noAck) {
          if (counted) this.acked += 1;
          return;
        }
        const done = counted ? onAcked : ignore;
        const result: unknown = message.ack();
        if (result instanceof Promise) result.then(done, onFailed);
        else done();
      },
    });
    await consumer.consume();
    this.consumers.push(consumer);
    return consumer;
  }

  /** Runs the connection's Hub until `expected` acks completed; false on timeout. Throws a failed ack's error. */
  waitFor(connection: Connection, expected: number, timeoutMs: number): Promise<boolean> {
    return this.waitUntil(connection, () => this.acked >= expected, timeoutMs);
  }

  /** Runs the connection's Hub until `done()` (checked after each completed ack too); false on timeout. */
  async waitUntil(connection: Connection, done: () => boolean, timeoutMs: number): Promise<boolean> {
    const finished = (): boolean => done() || this.failure !== undefined;
    // An ack promise resolves outside the Hub's iteration; without a wake the Hub would sleep
    // until its next timer and the measured time would include that sleep.
    this.wake = () => {
      if (finished()) connection.hub.callSoon(() => undefined);
    };
    try {
      const ok = await connection.hub.runUntil(finished, { timeoutMs });
      if (this.failure !== undefined) throw this.failure;
      return ok;
    } finally {
      this.wake = undefined;
    }
  }

  async cancelAll(): Promise<void> {
    for (const consumer of this.consumers.splice(0)) await consumer.cancel();
  }
}

/** Latency (ms) of a message from its timestamp header; undefined if the header is missing. */
export function latencyOf(message: Message, now: number): number | undefined {
  if (message.headers[WARMUP_HEADER] !== undefined) return undefined;
  const stamp = message.headers[TIMESTAMP_HEADER];
  return typeof stamp === 'number' ? now - stamp : undefined;
}
