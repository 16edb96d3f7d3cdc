/**
 * `kelp bench polling`: the same loads consumed under each queue-order cycle (round_robin,
 * priority, sorted) and each way of asking the broker for work:
 *  - blocking: one message per pop (transport batch size 1), waiting for a wake-up when the
 *    queues are empty: the shape of Kombu's one-BRPOP-per-message loop. (kelp's Redis transport
 *    never lets a blocking command take data, because BRPOP cannot record the message as unacked
 *    in the same step; it waits on a key-change notification instead.)
 *  - batched: up to 100 messages per atomic pop (transport batch size 100);
 *  - interval: no consumer at all, `queue.get()` over the queues in cycle order, sleeping a fixed
 *    interval after a cycle that found nothing (Kombu's generic virtual-transport polling).
 * Consumers run at prefetch 100 in both consumer modes, so only the pop size differs. Each run
 * drains a prefilled backlog (throughput, fairness, commands, CPU) and then serves a paced
 * stream (latency).
 */
import type { Connection, Message, Queue } from 'kelp';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  AckCounter,
  benchPrefix,
  declareDirect,
  dropTopology,
  interleavedSpecs,
  latencyOf,
  makeProducer,
  openConnection,
  closeConnection,
  publishOne,
  publishWindowed,
  wallNow,
  type BenchChannel,
  type BenchTopology,
  type PublishSpec,
} from './harness.js';
import { measurePhase } from './measure.js';
import type { RedisInfoProbe } from './redis-info.js';
import { measureFairness, type Delivery } from './fairness.js';
import { distribute, summarizeLatency, type LatencySummary } from './stats.js';

export const CYCLES = ['round_robin', 'priority', 'sorted'] as const;
export type Cycle = (typeof CYCLES)[number];
export const POLL_MODES = ['blocking', 'batched', 'interval'] as const;
export type PollMode = (typeof POLL_MODES)[number];
export const LOADS = ['skewed', 'even'] as const;
export type Load = (typeof LOADS)[number];

/**
 * Jain's window: long enough to hold a few pops of every queue at the rates measured here (a
 * batched pop takes up to 100 messages of one queue at once, so a window of one pop would call
 * any batching unfair), short enough to give a drain of a few thousand messages several windows.
 */
export const DEFAULT_WINDOW_MS = 20;

export interface PollingOptions {
  url: string;
  queues: number;
  messages: number;
  /** Paced phase: messages per second and how many messages. */
  rate: number;
  pacedMessages: number;
  /** Interval mode: seconds to sleep after a cycle of gets that found nothing. */
  interval: number;
  /** Length of the fixed time windows Jain's index is computed over (ms). */
  windowMs: number;
  timeoutMs: number;
  cycles?: readonly Cycle[];
  modes?: readonly PollMode[];
  loads?: readonly Load[];
  probe?: RedisInfoProbe;
  /** Run one small unrecorded configuration first (default true). */
  warmup?: boolean;
  /** Called after each configuration, for progress output. */
  onResult?: (result: PollingResult) => void;
}

export interface PollingResult {
  cycle: Cycle;
  mode: PollMode;
  load: Load;
  messages: number;
  throughput: number;
  latencyMs?: LatencySummary;
  /** Jain's index over fixed windows while two or more queues held messages (fairness.ts). */
  jain: number;
  /** The lowest window's index. */
  jainMin: number;
  /** How many windows the index is over (0: the drain never had two busy queues for a window). */
  jainWindows: number;
  /** Longest time any queue holding messages went unserved (ms). */
  starvationMs: number;
  commandsPerMsg?: number;
  roundTripsPerMsg?: number;
  cpuUsPerMsg: number;
  error?: string;
}

export interface PollingReport {
  url: string;
  queues: number;
  messages: number;
  rate: number;
  interval: number;
  windowMs: number;
  startedAt: string;
  results: PollingResult[];
}

/**
 * Queue order for the interval poller, mirroring the transport's cycles
 * (docs/wire-format.md#queue-order-strategies).
 */
export class GetCycle {
  private order: number[];

  constructor(
    private readonly cycle: Cycle,
    names: readonly string[],
    consumeOrder: readonly number[],
  ) {
    this.order = cycle === 'sorted' ? [...consumeOrder].sort((a, b) => ((names[a] as string) < (names[b] as string) ? -1 : 1)) : [...consumeOrder];
  }

  get current(): readonly number[] {
    return this.order;
  }

  /** round_robin moves the queue that just delivered to the back; the others keep their order. */
  rotate(queue: number): void {
    if (this.cycle !== 'round_robin') return;
    const at = this.order.indexOf(queue);
    if (at >= 0) this.order.push(...this.order.splice(at, 1));
  }
}

interface Sink {
  onMessage(queue: number, message: Message, now: number): void;
}

/** A running consumer (blocking/batched) or get-loop (interval) that feeds `sink`. */
interface Poller {
  waitFor(expected: () => boolean, timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

async function startConsumerPoller(connection: Connection, channel: BenchChannel, topology: BenchTopology, order: readonly number[], prefetch: number, sink: Sink): Promise<Poller> {
  const counter = new AckCounter();
  const ordered: BenchTopology = {
    exchange: topology.exchange,
    queues: order.map((i) => topology.queues[i] as Queue),
    names: order.map((i) => topology.names[i] as string),
  };
  await counter.attach(channel, ordered, {
    prefetch,
    observer: { onMessage: (message, queue, now) => sink.onMessage(order[queue] ?? -1, message, now) },
  });
  return {
    waitFor(expected, timeoutMs) {
      return counter.waitUntil(connection, () => expected() && counter.acked >= counter.received, timeoutMs);
    },
    stop: () => counter.cancelAll(),
  };
}

function startGetPoller(channel: BenchChannel, topology: BenchTopology, cycle: GetCycle, intervalS: number, sink: Sink): Poller {
  const bound = topology.queues.map((queue) => queue.bind(channel));
  let stopped = false;
  let failure: unknown;
  const loop = (async () => {
    while (!stopped) {
      let found = false;
      for (const q of cycle.current) {
        const message = await (bound[q] as Queue).get({ noAck: false });
        if (!message) continue;
        sink.onMessage(q, message, wallNow());
        await message.ack();
        cycle.rotate(q);
        found = true;
        break; // a hit restarts from the head of the (possibly rotated) cycle, as Kombu's FairCycle does
      }
      if (!found) await sleep(intervalS * 1000);
      else await yieldToLoop(); // let timers (the paced producer) run between gets
    }
  })().catch((error: unknown) => {
    failure = error;
  });
  return {
    async waitFor(expected, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (!expected() && failure === undefined && performance.now() < deadline) await sleep(1);
      if (failure !== undefined) throw failure;
      return expected();
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const CONSUMER_PREFETCH = 100;

/** The transport options of one configuration (`batchSize`: Redis's name, memory:// takes it too). */
export function transportOptionsFor(cycle: Cycle, mode: PollMode): Record<string, unknown> {
  return { queueOrderStrategy: cycle, batchSize: mode === 'blocking' ? 1 : CONSUMER_PREFETCH };
}

/** The order queues are handed to the consumer: reversed, so `priority` (declaration order) differs from `sorted`. */
function consumeOrderFor(count: number): number[] {
  return Array.from({ length: count }, (_, i) => count - 1 - i);
}

async function runOne(options: PollingOptions, cycle: Cycle, mode: PollMode, load: Load): Promise<PollingResult> {
  const base: PollingResult = { cycle, mode, load, messages: 0, throughput: 0, jain: Number.NaN, jainMin: Number.NaN, jainWindows: 0, starvationMs: Number.NaN, cpuUsPerMsg: Number.NaN };
  const connection = openConnection(options.url, { transportOptions: transportOptionsFor(cycle, mode) });
  try {
    const publisher = await connection.channel();
    const consumerChannel = await connection.channel();
    const prefix = benchPrefix();
    // Zero-padded names so that `sorted` means index order.
    const topology = await declareDirect(publisher, prefix, options.queues);
    const producer = makeProducer(publisher, topology.exchange);
    const backlog = distribute(options.messages, options.queues, load);
    await publishWindowed(producer, interleavedSpecs(topology.names, backlog), 500);

    const order = consumeOrderFor(options.queues);
    const deliveries: Delivery[] = [];
    const latencies: number[] = [];
    let served = 0;
    let phaseStart = 0;
    let collectLatency = false;
    const sink: Sink = {
      onMessage(queue, message, now) {
        served += 1;
        if (collectLatency) {
          const latency = latencyOf(message, now);
          if (latency !== undefined) latencies.push(latency);
        } else {
          const age = latencyOf(message, now);
          deliveries.push({ queue, publishedAt: age === undefined ? phaseStart : now - age, servedAt: now });
        }
      },
    };
    let poller: Poller | undefined;
    const startPoller = async (): Promise<Poller> =>
      mode === 'interval'
        ? startGetPoller(consumerChannel, topology, new GetCycle(cycle, topology.names, order), options.interval, sink)
        : startConsumerPoller(connection, consumerChannel, topology, order, CONSUMER_PREFETCH, sink);

    let drained = false;
    const phase = await measurePhase(options.probe, async () => {
      phaseStart = wallNow();
      poller = await startPoller();
      drained = await poller.waitFor(() => served >= options.messages, options.timeoutMs);
    });
    if (!drained) throw new Error(`drain timed out after ${options.timeoutMs} ms (${served}/${options.messages})`);
    // The backlog was all published before the drain: the timeline starts with the drain.
    const fairness = measureFairness(deliveries, { queues: options.queues, windowMs: options.windowMs, start: phaseStart });

    // Paced phase: the same poller keeps running while a producer publishes at a fixed rate.
    collectLatency = true;
    served = 0;
    const pacedSpecs = interleavedSpecs(topology.names, distribute(options.pacedMessages, options.queues, load));
    const pacing = publishPaced(producer, pacedSpecs, options.rate);
    const poll = (poller as Poller).waitFor(() => served >= options.pacedMessages, options.timeoutMs);
    await pacing;
    await poll;
    await (poller as Poller).stop();
    await dropTopology(publisher, topology);

    const result: PollingResult = {
      ...base,
      messages: options.messages,
      throughput: options.messages / phase.seconds,
      latencyMs: summarizeLatency(latencies),
      jain: fairness.jain,
      jainMin: fairness.jainMin,
      jainWindows: fairness.windows,
      starvationMs: fairness.starvationMs,
      cpuUsPerMsg: phase.cpuUs / options.messages,
    };
    if (phase.redis) {
      result.commandsPerMsg = phase.redis.commands / options.messages;
      result.roundTripsPerMsg = phase.redis.reads / options.messages;
    }
    return result;
  } catch (error) {
    return { ...base, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  } finally {
    await closeConnection(connection);
  }
}

/** Publishes `specs` at `rate` messages per second, each stamped when it is actually sent. */
async function publishPaced(producer: ReturnType<typeof makeProducer>, specs: readonly PublishSpec[], rate: number): Promise<void> {
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  let sent = 0;
  while (sent < specs.length) {
    const due = Math.min(specs.length, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; sent < due; sent += 1) pending.push(publishOne(producer, specs[sent] as PublishSpec));
    await sleep(1);
  }
  await Promise.all(pending);
}

/** Runs every (load, cycle, mode) combination one after another. */
export async function runPollingBench(options: PollingOptions): Promise<PollingReport> {
  const report: PollingReport = {
    url: options.url,
    queues: options.queues,
    messages: options.messages,
    rate: options.rate,
    interval: options.interval,
    windowMs: options.windowMs,
    startedAt: new Date().toISOString(),
    results: [],
  };
  // One small unrecorded run first, so the first configuration is not the one that pays for JIT
  // compilation and connection warm-up.
  if (options.warmup !== false) await runOne({ ...options, messages: Math.min(options.messages, 500), pacedMessages: 20 }, 'round_robin', 'batched', 'even');
  for (const load of options.loads ?? LOADS) {
    for (const cycle of options.cycles ?? CYCLES) {
      for (const mode of options.modes ?? POLL_MODES) {
        const result = await runOne(options, cycle, mode, load);
        report.results.push(result);
        options.onResult?.(result);
      }
    }
  }
  return report;
}
