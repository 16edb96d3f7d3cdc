/**
 * The in-process workloads: publish (awaited and concurrent), consume+ack at several prefetch
 * counts, many queues, fanout and priority mixes, what TTL and length limits cost, and the
 * delayed mover's throughput. Each one opens its own connection, declares
 * fresh queues under a unique prefix, measures one phase and cleans up, so results do not leak
 * into each other.
 */
import { Queue, type Connection, type Message, type Producer } from 'kelp';
import { performance } from 'node:perf_hooks';
import {
  AckCounter,
  benchPrefix,
  declareDirect,
  declareFanout,
  dropTopology,
  interleavedSpecs,
  makeProducer,
  openConnection,
  closeConnection,
  publishWindowed,
  WARMUP_HEADER,
  type BenchChannel,
} from './harness.js';
import { failedResult, measurePhase, resultFrom, type WorkloadResult } from './measure.js';
import type { RedisInfoProbe } from './redis-info.js';
import { distribute } from './stats.js';

export interface BenchContext {
  url: string;
  /** Messages per workload. */
  messages: number;
  /** Publishes in flight for the concurrent workloads. */
  concurrency: number;
  /** Upper bound for one phase, so a stalled transport fails the row instead of hanging. */
  timeoutMs: number;
  probe?: RedisInfoProbe;
  transportOptions?: Record<string, unknown>;
}

interface Session {
  connection: Connection;
  publisher: BenchChannel;
  consumer: BenchChannel;
  prefix: string;
}

/** Opens a connection with separate publish and consume channels, runs `fn`, always closes. */
async function withSession<T>(ctx: BenchContext, fn: (session: Session) => Promise<T>): Promise<T> {
  const connection = openConnection(ctx.url, ctx.transportOptions ? { transportOptions: ctx.transportOptions } : {});
  try {
    await connection.connect();
    const publisher = await connection.channel();
    const consumer = await connection.channel();
    return await fn({ connection, publisher, consumer, prefix: benchPrefix() });
  } finally {
    await closeConnection(connection);
  }
}

async function guarded(id: string, label: string, run: () => Promise<WorkloadResult>): Promise<WorkloadResult> {
  try {
    return await run();
  } catch (error) {
    return failedResult(id, label, error);
  }
}

/** Publishes `ctx.messages` with `window` in flight (1 = each publish awaited before the next). */
export function publishWorkload(
  ctx: BenchContext,
  window: number,
  options: { id?: string; label?: string; queueArguments?: Record<string, unknown> } = {},
): Promise<WorkloadResult> {
  const id = options.id ?? (window <= 1 ? 'publish-serial' : 'publish-concurrent');
  const label = options.label ?? (window <= 1 ? 'publish, awaited one at a time' : `publish, ${window} in flight`);
  return guarded(id, label, () =>
    withSession(ctx, async ({ publisher, prefix }) => {
      const topology = await declareDirect(publisher, prefix, 1, options.queueArguments ? { queueArguments: options.queueArguments } : {});
      const producer = makeProducer(publisher, topology.exchange);
      const specs = interleavedSpecs(topology.names, [ctx.messages]);
      const phase = await measurePhase(ctx.probe, () => publishWindowed(producer, specs, window));
      await dropTopology(publisher, topology);
      return resultFrom(id, label, ctx.messages, phase);
    }),
  );
}

/**
 * Prefills `ctx.messages` over `queueCount` queues, then measures a consumer draining them with
 * acks at `prefetch`. Only the drain is measured, so CPU and commands are the consumer's.
 */
export function consumeWorkload(
  ctx: BenchContext,
  options: { prefetch: number; queues?: number; priorities?: readonly number[]; id?: string; label?: string; queueArguments?: Record<string, unknown> },
): Promise<WorkloadResult> {
  const queueCount = options.queues ?? 1;
  const id = options.id ?? `consume-ack-p${options.prefetch}`;
  const label = options.label ?? `consume+ack, prefetch ${options.prefetch}`;
  return guarded(id, label, () =>
    withSession(ctx, async ({ connection, publisher, consumer, prefix }) => {
      const declareOptions = {
        ...(options.priorities ? { maxPriority: 9 } : {}),
        ...(options.queueArguments ? { queueArguments: options.queueArguments } : {}),
      };
      const topology = await declareDirect(publisher, prefix, queueCount, declareOptions);
      const producer = makeProducer(publisher, topology.exchange);
      const counts = distribute(ctx.messages, queueCount, 'even');
      await publishWindowed(producer, interleavedSpecs(topology.names, counts, options.priorities), ctx.concurrency);
      // The consumer is registered before the clock starts: nothing is taken until the Hub runs,
      // and its connection set-up is not what this row measures.
      const counter = new AckCounter();
      await counter.attach(consumer, topology, { prefetch: options.prefetch });
      let timedOut = false;
      const phase = await measurePhase(ctx.probe, async () => {
        timedOut = !(await counter.waitFor(connection, ctx.messages, ctx.timeoutMs));
      });
      await counter.cancelAll();
      await dropTopology(publisher, topology);
      if (timedOut) throw new Error(`timed out after ${ctx.timeoutMs} ms before ${ctx.messages} acks`);
      const result = resultFrom(id, label, ctx.messages, phase);
      result.extra = { queues: queueCount, prefetch: options.prefetch };
      return result;
    }),
  );
}

/**
 * Fanout to `subscribers` queues, each with its own consumer on its own channel. Publishing and
 * consuming overlap (pub/sub fanout only reaches subscribers that are listening), and the rate
 * counts deliveries: `messages x subscribers` per run.
 */
export function fanoutWorkload(ctx: BenchContext, subscribers: number): Promise<WorkloadResult> {
  const id = `fanout-${subscribers}`;
  const label = `fanout to ${subscribers} subscribers`;
  return guarded(id, label, () =>
    withSession(ctx, async ({ connection, publisher, prefix }) => {
      const topology = await declareFanout(publisher, prefix, subscribers);
      const counter = new AckCounter();
      const countIf = (message: Message): boolean => message.headers[WARMUP_HEADER] === undefined;
      for (const queue of topology.queues) {
        const channel = await connection.channel();
        await counter.attach(channel, { exchange: topology.exchange, queues: [queue], names: [queue.name] }, { prefetch: 100, countIf });
      }
      const producer = makeProducer(publisher, topology.exchange);
      await waitForSubscribers(connection, producer, subscribers, ctx.timeoutMs);
      // Pub/sub keeps nothing: a subscriber link replaced meanwhile misses what was published
      // while it was down (fanout is at most once), so the result says how many links went.
      let linksLost = 0;
      const onLost = (): void => {
        linksLost += 1;
      };
      connection.on('connectionLost', onLost);
      const specs = interleavedSpecs([''], [ctx.messages]);
      const expected = ctx.messages * subscribers;
      let done = false;
      let publishSeconds = 0;
      const phase = await measurePhase(ctx.probe, async () => {
        const started = performance.now();
        const consuming = counter.waitFor(connection, expected, ctx.timeoutMs);
        await publishWindowed(producer, specs, ctx.concurrency);
        publishSeconds = (performance.now() - started) / 1000;
        done = await consuming;
      });
      connection.off('connectionLost', onLost);
      await counter.cancelAll();
      await dropTopology(publisher, topology);
      const result = resultFrom(id, label, counter.acked, phase);
      result.extra = {
        linksLost,
        subscribers,
        published: ctx.messages,
        delivered: counter.acked,
        expected,
        complete: done,
        publishRate: publishSeconds > 0 ? ctx.messages / publishSeconds : 0,
      };
      return result;
    }),
  );
}


/**
 * Pub/sub fanout drops what is published before a subscriber listens, and subscriptions are made
 * from Hub ticks. So run the Hub and publish probe messages until a publish reaches every
 * subscriber (transports that do not report subscriber counts are taken as ready).
 */
async function waitForSubscribers(connection: Connection, producer: Producer, subscribers: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let reached = 0;
    const probe = producer.publish({ probe: true }, { headers: { [WARMUP_HEADER]: true } }).then((result) => {
      reached = result.subscribers ?? subscribers;
    });
    await connection.hub.runUntil(() => reached >= subscribers, { timeoutMs: 20 });
    await probe;
    if (reached >= subscribers) return;
    if (performance.now() > deadline) throw new Error(`only ${reached} of ${subscribers} fanout subscribers listened within ${timeoutMs} ms`);
  }
}

/** The ids `runWorkloads` understands, in the order the table shows them. */
export const WORKLOAD_IDS = [
  'publish-serial',
  'publish-concurrent',
  'consume-ack-p1',
  'consume-ack-p10',
  'consume-ack-p100',
  'consume-ack-p1000',
  'queues-1',
  'queues-10',
  'queues-100',
  'queues-1000',
  'fanout-10',
  'priority-mix',
  'arguments-cost',
  'delayed-move',
] as const;

export type WorkloadId = (typeof WORKLOAD_IDS)[number];

/** Priorities cycled through by the priority-mix workload: mostly normal, some urgent, some bulk. */
export const PRIORITY_MIX: readonly number[] = [0, 0, 3, 3, 3, 3, 6, 6, 9, 9];

/** Runs one in-process workload by id. */
export function runWorkload(ctx: BenchContext, id: WorkloadId): Promise<WorkloadResult> {
  if (id === 'publish-serial') return publishWorkload(ctx, 1);
  if (id === 'publish-concurrent') return publishWorkload(ctx, ctx.concurrency);
  if (id === 'fanout-10') return fanoutWorkload(ctx, 10);
  if (id === 'arguments-cost') return argumentsCostWorkload(ctx);
  if (id === 'delayed-move') return delayedMoveWorkload(ctx);
  if (id === 'priority-mix') {
    return consumeWorkload(ctx, { prefetch: 100, priorities: PRIORITY_MIX, id, label: 'priority mix 0/3/6/9, prefetch 100' });
  }
  const queues = /^queues-(\d+)$/.exec(id);
  if (queues) {
    const n = Number(queues[1]);
    return consumeWorkload(ctx, { prefetch: 100, queues: n, id, label: `${n} queue${n === 1 ? '' : 's'}, consume+ack, prefetch 100` });
  }
  const prefetch = Number(/^consume-ack-p(\d+)$/.exec(id)?.[1] ?? 100);
  return consumeWorkload(ctx, { prefetch });
}

/** Adds the "rate relative to one queue" ratio the 100-queue target is stated in. */
export function addQueueRatios(results: WorkloadResult[]): void {
  const base = results.find((r) => r.id === 'queues-1' && !r.error);
  if (!base || base.rate <= 0) return;
  for (const result of results) {
    if (!/^queues-\d+$/.test(result.id) || result.error) continue;
    result.extra = { ...result.extra, vsOneQueue: result.rate / base.rate };
  }
}

// ---- what queue arguments (TTL, length limit) cost per message, and how fast due delayed messages move

/** TTL and a length limit the workload never reaches: what every publish and pop then checks. */
export const BENCH_QUEUE_ARGUMENTS = { 'x-message-ttl': 3_600_000, 'x-max-length': 100_000_000, 'x-overflow': 'drop-head' } as const;

const ROUNDS = 2;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Publish (`ctx.concurrency` in flight) and consume+ack (prefetch 100) on a queue with TTL and a
 * length limit and on one without, alternating off/on for {@link ROUNDS} rounds (after one
 * uncounted round) so drift in the machine's load hits both alike. The row's rate is the publish
 * rate with the arguments on; the ratios (on / off, 1 = free) are in `extra`.
 */
export async function argumentsCostWorkload(ctx: BenchContext): Promise<WorkloadResult> {
  const id = 'arguments-cost';
  const label = 'TTL + length limit on vs off (publish, consume+ack)';
  const rates = { publishOff: [] as number[], publishOn: [] as number[], consumeOff: [] as number[], consumeOn: [] as number[] };
  let last: WorkloadResult | undefined;
  // Round 0 warms the process (JIT, connections, scripts) and is not counted: whichever side ran
  // first in a cold process came out 10-40% slower.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const on of [false, true]) {
      const args = on ? { queueArguments: { ...BENCH_QUEUE_ARGUMENTS } } : {};
      const published = await publishWorkload(ctx, ctx.concurrency, { id, label, ...args });
      const consumed = await consumeWorkload(ctx, { prefetch: 100, id, label, ...args });
      const failed = published.error ?? consumed.error;
      if (failed !== undefined) return failedResult(id, label, new Error(failed));
      if (round === 0) continue;
      (on ? rates.publishOn : rates.publishOff).push(published.rate);
      (on ? rates.consumeOn : rates.consumeOff).push(consumed.rate);
      if (on) last = published;
    }
  }
  const result = { ...(last as WorkloadResult), rate: median(rates.publishOn) };
  result.extra = {
    publishOff: Math.round(median(rates.publishOff)),
    publishOn: Math.round(median(rates.publishOn)),
    publishOnVsOff: Number((median(rates.publishOn) / median(rates.publishOff)).toFixed(3)),
    consumeOff: Math.round(median(rates.consumeOff)),
    consumeOn: Math.round(median(rates.consumeOn)),
    consumeOnVsOff: Number((median(rates.consumeOn) / median(rates.consumeOff)).toFixed(3)),
    rounds: ROUNDS,
  };
  return result;
}

/**
 * The mover's throughput: `ctx.messages` delayed messages fall due together, then one mover
 * step loop (the one `kelp restore` runs, batches of 500 as the hub's mover) moves them all;
 * the rate is messages moved per second. The delayed publish rate is in `extra`.
 */
export async function delayedMoveWorkload(ctx: BenchContext): Promise<WorkloadResult> {
  const id = 'delayed-move';
  const label = 'delayed mover: due messages moved per second';
  const connection = openConnection(ctx.url, ctx.transportOptions ? { transportOptions: ctx.transportOptions } : {});
  try {
    await connection.connect();
    const admin = connection.transport.admin;
    if (!admin) throw new Error(`the ${connection.transport.driverName} transport has no admin to move with`);
    const queue = `bench-delayed-${process.pid}-${Date.now().toString(36)}`;
    const producer = connection.Producer({ routingKey: queue });
    const body = { kind: 'bench', text: 'x'.repeat(160) };
    // Due a little after the last publish: estimated from a first slice, with room to spare.
    const sample = Math.min(500, ctx.messages);
    const probeStart = performance.now();
    const dueAt = Date.now() + 60_000;
    await Promise.all(Array.from({ length: sample }, () => producer.publish(body, { eta: new Date(dueAt) })));
    const perMessageMs = (performance.now() - probeStart) / sample;
    const restDue = Date.now() + Math.ceil(perMessageMs * (ctx.messages - sample) * 2) + 500;
    const publishStart = performance.now();
    for (let sent = sample; sent < ctx.messages; sent += ctx.concurrency) {
      const n = Math.min(ctx.concurrency, ctx.messages - sent);
      await Promise.all(Array.from({ length: n }, () => producer.publish(body, { eta: new Date(restDue) })));
    }
    const publishRate = (ctx.messages - sample) / ((performance.now() - publishStart) / 1000);
    // The first slice (due in a minute) only timed the publishes; it stays out of the count.
    const wait = restDue - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 5));
    let moved = 0;
    const phase = await measurePhase(ctx.probe, async () => {
      moved = (await admin.restore()).delayedMoved ?? 0;
    });
    await new Queue(queue).bind(await connection.defaultChannel()).delete();
    const result = resultFrom(id, label, moved, phase);
    result.extra = { expected: ctx.messages - sample, delayedPublishRate: Math.round(publishRate) };
    return result;
  } catch (error) {
    return failedResult(id, label, error);
  } finally {
    await closeConnection(connection);
  }
}
