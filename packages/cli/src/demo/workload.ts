/**
 * The workload behind `kelp demo`: a direct, a topic and a fanout exchange with four queues,
 * N messages published round-robin over the three, consumed and acked through the connection's
 * Hub while publishing goes on. It only uses kelp's public API, as an application would, and
 * counts every delivery per message so that a loss or a duplicate cannot hide in a total.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, Exchange, Hub, Producer, Queue } from 'kelp';
import type { Connection, Message } from 'kelp';

const RUN = 'x-kelp-demo-run';
const SEQ = 'x-kelp-demo-seq';
const SENT = 'x-kelp-demo-sent-at';
const PROBE = 'x-kelp-demo-probe';
/** Publishes awaited together: enough to pipeline, few enough to interleave with consuming. */
const WINDOW = 100;
/** Deliveries published but not yet acked before publishing waits: keeps latency about the work, not a backlog. */
const MAX_OUTSTANDING = 500;
const TOPIC_KEYS = ['demo.eu.order', 'demo.us.order', 'demo.ap.invoice'];

/** Wall-clock milliseconds with sub-millisecond precision (comparable across processes). */
const clock = (): number => performance.timeOrigin + performance.now();

export interface DemoOptions {
  messages: number;
  prefetch: number;
  signal: AbortSignal;
  /** Give up when no delivery was acked for this long (milliseconds). */
  idleTimeoutMs: number;
  /** `planned`: deliveries all `messages` will make (a fanout message counts once per queue). */
  onProgress?: (progress: { published: number; messages: number; acked: number; planned: number }) => void;
}

export interface DemoQueueStats {
  queue: string;
  exchange: string;
  type: 'direct' | 'topic' | 'fanout';
  bindingKey: string;
  /** Deliveries routed to this queue. */
  published: number;
  consumed: number;
  acked: number;
  duplicates: number;
}

export interface DemoResult {
  /** Messages published (each counted once, whatever the number of queues it was routed to). */
  published: number;
  /** Messages delivered to every queue they were routed to. */
  consumed: number;
  /** Messages acked in every queue they were routed to. */
  acked: number;
  lost: number;
  unroutable: number;
  /** Deliveries over all queues (a fanout message is one delivery per bound queue). */
  deliveries: { expected: number; consumed: number; acked: number; duplicates: number };
  /** Messages of earlier runs found in the demo queues (acked and not counted). */
  stale: number;
  queues: DemoQueueStats[];
  /** From the first publish to the last ack. */
  seconds: number;
  /** Publish-to-delivery latency of every first delivery, in milliseconds. */
  latencies: Float64Array;
  stopped: 'done' | 'interrupted' | 'idle-timeout';
}

interface QueueState extends DemoQueueStats {
  route: number;
  seen: Uint8Array;
  ackedBits: Uint8Array;
}

export async function runDemo(connection: Connection, options: DemoOptions): Promise<DemoResult> {
  const n = options.messages;
  const runId = randomUUID();
  const exchanges = [
    new Exchange('kelp.demo.direct', { type: 'direct' }),
    new Exchange('kelp.demo.topic', { type: 'topic' }),
    new Exchange('kelp.demo.fanout', { type: 'fanout' }),
  ] as const;
  const queueSpecs = [
    { route: 0, name: 'kelp.demo.direct', bindingKey: 'demo' },
    { route: 1, name: 'kelp.demo.topic', bindingKey: 'demo.#' },
    { route: 2, name: 'kelp.demo.fanout.a', bindingKey: '' },
    { route: 2, name: 'kelp.demo.fanout.b', bindingKey: '' },
  ];
  const states: QueueState[] = queueSpecs.map((spec) => {
    const exchange = exchanges[spec.route as 0 | 1 | 2];
    return {
      queue: spec.name,
      exchange: exchange.name,
      type: exchange.type,
      bindingKey: spec.bindingKey,
      route: spec.route,
      published: 0,
      consumed: 0,
      acked: 0,
      duplicates: 0,
      seen: new Uint8Array(n),
      ackedBits: new Uint8Array(n),
    };
  });
  const routingKey = (i: number): string => (i % 3 === 0 ? 'demo' : i % 3 === 1 ? (TOPIC_KEYS[i % TOPIC_KEYS.length] ?? 'demo') : '');

  const publishChannel = await connection.defaultChannel();
  const consumeChannel = await connection.channel();
  const queues = states.map(
    (s) => new Queue(s.queue, { exchange: exchanges[s.route as 0 | 1 | 2], routingKey: s.bindingKey }),
  );
  for (const queue of queues) {
    const bound = queue.bind(publishChannel);
    await bound.declare();
    // Leftovers of an interrupted run would be counted as this run's otherwise.
    await bound.purge();
  }

  const latencies = new Float64Array(n * 2);
  let latencyCount = 0;
  let expected = 0;
  let ackedDeliveries = 0;
  let stale = 0;
  let failure: unknown;
  let lastActivity = clock();
  let lastAckAt = 0;
  let publishingDone = false;
  const probes = new Set<string>();
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForActivity = (): Promise<void> => new Promise((resolve) => (wake = resolve));

  const onMessage = async (state: QueueState, message: Message): Promise<void> => {
    try {
      const headers = message.headers;
      if (headers[RUN] !== runId) {
        stale += 1;
      } else if (headers[PROBE] === true) {
        probes.add(state.queue);
      } else {
        const seq = Number(headers[SEQ]);
        state.consumed += 1;
        if (state.seen[seq] === 1) state.duplicates += 1;
        else {
          state.seen[seq] = 1;
          latencies[latencyCount++] = clock() - Number(headers[SENT]);
        }
        await message.ack();
        if (state.ackedBits[seq] !== 1) {
          state.ackedBits[seq] = 1;
          state.acked += 1;
          ackedDeliveries += 1;
        }
        lastActivity = lastAckAt = clock();
        report();
        notify();
        return;
      }
      await message.ack();
      notify();
    } catch (error) {
      failure ??= error;
      notify();
    }
  };
  let published = 0;
  let planned = 0;
  for (let i = 0; i < n; i += 1) planned += states.filter((state) => state.route === i % 3).length;
  const report = (): void => options.onProgress?.({ published, messages: n, acked: ackedDeliveries, planned });

  const consumers = states.map(
    (state, i) =>
      new Consumer(consumeChannel, queues[i] as Queue, {
        prefetchCount: options.prefetch,
        autoDeclare: false,
        onMessage: (message: Message) => onMessage(state, message),
      }),
  );
  // The demo's own Hub, run in the background while publishing goes on; it is ours to close.
  const hub = new Hub();
  connection.registerWithEventLoop(hub);
  for (const consumer of consumers) await consumer.consume();
  const loopStop = new AbortController();
  const loop = hub.runForever(loopStop.signal).catch((error: unknown) => {
    if (!loopStop.signal.aborted) failure ??= error;
  });

  const producer = new Producer(publishChannel, { serializer: 'json', autoDeclare: false });
  const stopped = (): boolean => options.signal.aborted || failure !== undefined;
  let unroutable = 0;
  let started = clock();
  try {
    await warmUpFanout(producer, exchanges[2].name, runId, probes, options.signal);
    started = clock();
    let pending: Promise<unknown>[] = [];
    for (let i = 0; i < n && !stopped(); i += 1) {
      for (const state of states) {
        if (state.route === i % 3) {
          state.published += 1;
          expected += 1;
        }
      }
      const exchange = exchanges[(i % 3) as 0 | 1 | 2].name;
      const body = { seq: i, text: 'hello from kelp demo' };
      const headers = { [RUN]: runId, [SEQ]: i, [SENT]: clock() };
      pending.push(
        producer.publish(body, { exchange, routingKey: routingKey(i), headers }).then((result) => {
          if (result.status !== 'routed') unroutable += 1;
        }),
      );
      published = i + 1;
      if (pending.length >= WINDOW || i === n - 1) {
        await Promise.all(pending);
        pending = [];
        report();
        // Let the Hub run between windows, so consuming goes on while we publish.
        await new Promise<void>((resolve) => setImmediate(resolve));
        while (expected - ackedDeliveries > MAX_OUTSTANDING && !stopped() && !idle()) await waitWithTimeout();
      }
    }
    publishingDone = true;
    while (ackedDeliveries < expected && !stopped() && !idle()) await waitWithTimeout();
  } finally {
    for (const consumer of consumers) await consumer.cancel().catch(() => undefined);
    loopStop.abort();
    hub.stop();
    await loop;
    hub.close();
    for (const queue of queues) await queue.bind(publishChannel).delete().catch(() => undefined);
    for (const exchange of exchanges) await exchange.bind(publishChannel).delete().catch(() => undefined);
  }
  if (failure !== undefined) throw failure;

  function idle(): boolean {
    return clock() - lastActivity > options.idleTimeoutMs;
  }
  async function waitWithTimeout(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => notify();
    options.signal.addEventListener('abort', onAbort, { once: true });
    await Promise.race([waitForActivity(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 250)))]);
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
  }

  let consumedMessages = 0;
  let ackedMessages = 0;
  for (let i = 0; i < published; i += 1) {
    const targets = states.filter((s) => s.route === i % 3);
    if (targets.every((s) => s.seen[i] === 1)) consumedMessages += 1;
    if (targets.every((s) => s.ackedBits[i] === 1)) ackedMessages += 1;
  }
  const sum = (pick: (s: QueueState) => number): number => states.reduce((total, s) => total + pick(s), 0);
  return {
    published,
    consumed: consumedMessages,
    acked: ackedMessages,
    lost: published - ackedMessages,
    unroutable,
    deliveries: { expected, consumed: sum((s) => s.consumed), acked: ackedDeliveries, duplicates: sum((s) => s.duplicates) },
    stale,
    queues: states.map(({ queue, exchange, type, bindingKey, published: p, consumed, acked, duplicates }) => ({
      queue,
      exchange,
      type,
      bindingKey,
      published: p,
      consumed,
      acked,
      duplicates,
    })),
    seconds: Math.max(0, ((lastAckAt || clock()) - started) / 1000),
    latencies: latencies.subarray(0, latencyCount),
    stopped: options.signal.aborted ? 'interrupted' : publishingDone && ackedDeliveries >= expected ? 'done' : 'idle-timeout',
  };
}

/**
 * Fanout over Redis pub/sub reaches only subscribers that are already listening, and a
 * subscription becomes active some time after `consume()` returns. Probe until both fanout
 * queues hear one, so that the measured run does not lose its first fanout messages.
 */
async function warmUpFanout(
  producer: Producer,
  exchange: string,
  runId: string,
  probes: Set<string>,
  signal: AbortSignal,
): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (probes.size < 2 && performance.now() < deadline && !signal.aborted) {
    await producer.publish({ probe: true }, { exchange, routingKey: '', headers: { [RUN]: runId, [PROBE]: true } });
    const until = performance.now() + 200;
    while (probes.size < 2 && performance.now() < until) await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}
