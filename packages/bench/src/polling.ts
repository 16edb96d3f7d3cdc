/**
 * `kelp bench polling`: a lab for queue-order strategies and ways of asking the broker for work.
 * Every row consumes the same planned load (polling-loads.ts) from the same queues:
 *  - strategies (`--cycles`): round_robin, priority, sorted, or any a module registered
 *    (polling-strategies.ts);
 *  - modes: blocking = one message per pop (transport batch size 1), waiting for a wake-up
 *    when the queues are empty; batched = up to 100 messages per atomic pop; interval = no
 *    consumer, `queue.get()` in cycle order with a sleep after an empty cycle. (kelp's Redis
 *    transport never lets a blocking command take data, because BRPOP cannot record the message
 *    as unacked in the same step; it waits on a key-change notification instead.)
 *  - baselines (`--baseline`): Python Kombu 5.2.4's own BRPOP consumer and a raw BRPOP loop
 *    (polling-consumers.ts).
 * One run: a producer (its own process on Redis, polling-producer.ts) prefills the backlog;
 * the consumer drains it (throughput, fairness, starvation, Redis commands, round trips and CPU,
 * consumer CPU); then the producer publishes a paced stream while the consumer keeps going
 * (latency, overall and per queue). `--repeat N` runs every row N times, alternating the order
 * of rows from one repeat to the next; the figures are medians with their min-max.
 */
import { redactUrl } from 'kelp';
import { closeConnection, declareDirect, dropTopology, openConnection, wallNow, type BenchTopology } from './harness.js';
import { measureFairness, type Delivery } from './fairness.js';
import { startGetPoller, startKelpConsumer, startKombuConsumer, startRawConsumer, type LabConsumer, type Sink } from './polling-consumers.js';
import { planMessages, usesPriorities, type LoadSpec } from './polling-loads.js';
import { startProducer, type ProducerJob } from './polling-producer.js';
import { BUILTIN_CYCLES } from './polling-strategies.js';
import { diffCounters, type RedisInfoProbe } from './redis-info.js';
import { spread, summarizeLatency, type LatencySummary, type Spread } from './stats.js';

export const CYCLES = BUILTIN_CYCLES;
export type Cycle = string;
export const POLL_MODES = ['blocking', 'batched', 'interval'] as const;
export type PollMode = (typeof POLL_MODES)[number];
export const BASELINES = ['kombu', 'raw'] as const;
/** Wake-ups of an idle kelp consumer: CLIENT TRACKING invalidations, or the timer alone. */
export const TRACKING = ['on', 'off'] as const;
export type Tracking = (typeof TRACKING)[number];
export type Baseline = (typeof BASELINES)[number];

/**
 * Jain's window: long enough to hold a few pops of every queue at the rates measured here (a
 * batched pop takes up to 100 messages of one queue at once, so a window of one pop would call
 * any batching unfair), short enough to give a drain of a few thousand messages several windows.
 */
export const DEFAULT_WINDOW_MS = 20;
const CONSUMER_PREFETCH = 100;
const WARMUP_MESSAGES = 500;

export interface PollingOptions {
  url: string;
  messages: number;
  /**
   * Paced phase: messages per second (a load file with rates overrides it; 0 = the producer
   * saturates) and how many messages.
   */
  rate: number;
  pacedMessages: number;
  /** Interval mode: seconds to sleep after a cycle of gets that found nothing. */
  interval: number;
  /** Length of the fixed time windows Jain's index is computed over (ms). */
  windowMs: number;
  timeoutMs: number;
  loads: readonly LoadSpec[];
  cycles?: readonly Cycle[];
  modes?: readonly PollMode[];
  baselines?: readonly Baseline[];
  /** Wake-ups of kelp's consumer modes (default: on only). */
  tracking?: readonly Tracking[];
  /** Runs of every row (default 1). */
  repeat?: number;
  probe?: RedisInfoProbe;
  /** Run one small unrecorded configuration first (default true). */
  warmup?: boolean;
  /** Publish from this process instead of a child (default: only on memory://). */
  producerInProcess?: boolean;
  /** Called after each run, for progress output. */
  onResult?: (result: PollingResult) => void;
}

/** Latency of one queue's messages in the paced phase. */
export interface QueueLatency {
  queue: number;
  count: number;
  p50: number;
  p99: number;
  p999: number;
}

/** The figures a run measures; with repeats, each one's min-max goes into `spread`. */
export const FIGURES = ['throughput', 'p50', 'p99', 'p999', 'jain', 'jainMin', 'starvationMs', 'commandsPerMsg', 'roundTripsPerMsg', 'redisCpuUsPerMsg', 'cpuUsPerMsg'] as const;
export type Figure = (typeof FIGURES)[number];

export interface PollingResult {
  /** Who consumed: kelp, or a baseline. */
  consumer: 'kelp' | Baseline;
  /** Strategy name; for a baseline, its own cycle (round_robin). */
  cycle: Cycle;
  /** kelp's mode; `brpop` for the baselines. */
  mode: PollMode | 'brpop';
  /** Wake-ups by CLIENT TRACKING (`on`) or the brpopTimeout timer alone (`off`); kelp's consumer modes only. */
  tracking?: Tracking;
  load: string;
  messages: number;
  throughput: number;
  latencyMs?: LatencySummary;
  perQueue?: QueueLatency[];
  /** Jain's index over fixed windows while two or more queues held messages (fairness.ts). */
  jain: number;
  /** The lowest window's index. */
  jainMin: number;
  /** How many windows the index is over (0: the drain never had two busy queues for a window). */
  jainWindows: number;
  /** Longest time any queue holding messages went unserved (ms). */
  starvationMs: number;
  /** Messages delivered per queue during the drain. */
  servedByQueue?: number[];
  commandsPerMsg?: number;
  roundTripsPerMsg?: number;
  /** Redis server CPU (INFO cpu, user + sys) per message drained, in us. */
  redisCpuUsPerMsg?: number;
  /** Consumer CPU per message drained, in us (kelp and raw: this process; Kombu: its process). */
  cpuUsPerMsg: number;
  /** Runs this row stands for; its figures are their medians. */
  repeats?: number;
  /** Min and max of each figure over the repeats. */
  spread?: Partial<Record<Figure, Spread>>;
  error?: string;
}

export interface PollingReport {
  url: string;
  queues: number;
  messages: number;
  rate: number;
  pacedMessages: number;
  interval: number;
  windowMs: number;
  repeat: number;
  warmup: string;
  startedAt: string;
  loads: { name: string; description: string; queues: number }[];
  /** Medians over the repeats, one per row. */
  results: PollingResult[];
  /** Every run, in the order they ran. */
  runs: PollingResult[];
  environment?: Record<string, string>;
}

/** The transport options of one configuration (`batchSize`: Redis's name, memory:// takes it too). */
export function transportOptionsFor(cycle: Cycle, mode: PollMode, tracking: Tracking = 'on'): Record<string, unknown> {
  const options: Record<string, unknown> = { queueOrderStrategy: cycle, batchSize: mode === 'blocking' ? 1 : CONSUMER_PREFETCH };
  if (tracking === 'off') options['clientTracking'] = false;
  return options;
}

/** The order queues are handed to the consumer: reversed, so `priority` (declaration order) differs from `sorted`. */
function consumeOrderFor(count: number): number[] {
  return Array.from({ length: count }, (_, i) => count - 1 - i);
}

/** One row of the lab: who consumes, with what strategy and mode. */
export interface Row {
  consumer: 'kelp' | Baseline;
  cycle: Cycle;
  mode: PollMode | 'brpop';
  tracking?: Tracking;
}

/**
 * kelp's rows (strategy x mode x wake-ups) and then the baselines'. The interval mode has no
 * consumer to wake, so it runs once whatever `tracking` says.
 */
export function rowsOf(options: Pick<PollingOptions, 'cycles' | 'modes' | 'baselines' | 'tracking'>): Row[] {
  const rows: Row[] = [];
  for (const cycle of options.cycles ?? CYCLES) {
    for (const mode of options.modes ?? POLL_MODES) {
      if (mode === 'interval') {
        rows.push({ consumer: 'kelp', cycle, mode });
        continue;
      }
      for (const tracking of options.tracking ?? ['on']) rows.push(tracking === 'on' ? { consumer: 'kelp', cycle, mode } : { consumer: 'kelp', cycle, mode, tracking });
    }
  }
  for (const baseline of options.baselines ?? []) rows.push({ consumer: baseline, cycle: 'round_robin', mode: 'brpop' });
  return rows;
}

function isMemoryUrl(url: string): boolean {
  return url.startsWith('memory:');
}

interface Collected {
  phase: 'drain' | 'paced' | 'idle';
  drain: Delivery[];
  drainUnstamped: number;
  paced: Delivery[];
}

async function runOne(options: PollingOptions, load: LoadSpec, row: Row): Promise<PollingResult> {
  const queues = load.queues.length;
  const base: PollingResult = { ...row, load: load.name, messages: 0, throughput: 0, jain: Number.NaN, jainMin: Number.NaN, jainWindows: 0, starvationMs: Number.NaN, cpuUsPerMsg: Number.NaN };
  if (row.consumer !== 'kelp' && isMemoryUrl(options.url)) return { ...base, error: `--baseline ${row.consumer} needs a redis:// URL` };
  if (row.consumer === 'raw' && usesPriorities(load)) return { ...base, error: 'raw BRPOP reads only the lists without priority' };
  const connection = openConnection(options.url, row.consumer === 'kelp' ? { transportOptions: transportOptionsFor(row.cycle, row.mode as PollMode, row.tracking) } : {});
  let consumer: LabConsumer | undefined;
  let topology: BenchTopology | undefined;
  try {
    const admin = await connection.channel();
    const prefix = `kelp.bench.${process.pid}.${Date.now().toString(36)}`;
    const maxPriority = usesPriorities(load) ? 9 : undefined;
    topology = await declareDirect(admin, prefix, queues, maxPriority === undefined ? {} : { maxPriority });
    const inProcess = options.producerInProcess ?? isMemoryUrl(options.url);
    const job = (plan: ProducerJob['plan'], rate: number, seqBase: number): ProducerJob => ({
      url: options.url,
      prefix,
      queues,
      ...(maxPriority === undefined ? {} : { maxPriority }),
      plan,
      rate,
      burst: load.burst,
      seqBase,
    });
    // The backlog, saturating; the drain starts once all of it is in Redis.
    await startProducer(job(planMessages(load, options.messages), 0, 0), inProcess, options.timeoutMs).done;

    const collected: Collected = { phase: 'idle', drain: [], drainUnstamped: 0, paced: [] };
    let phaseStart = 0;
    const sink: Sink = {
      onDelivery(queue, publishedAt, servedAt) {
        if (collected.phase === 'drain') {
          if (publishedAt === undefined) collected.drainUnstamped += 1;
          collected.drain.push({ queue, publishedAt: publishedAt ?? phaseStart, servedAt });
        } else if (collected.phase === 'paced' && publishedAt !== undefined) {
          collected.paced.push({ queue, publishedAt, servedAt });
        }
      },
    };
    const order = consumeOrderFor(queues);
    let before = options.probe ? await options.probe.read() : undefined;
    collected.phase = 'drain';
    phaseStart = wallNow();
    if (row.consumer === 'kelp') {
      const channel = await connection.channel();
      consumer =
        row.mode === 'interval'
          ? startGetPoller(channel, topology, row.cycle, order, options.interval, sink)
          : await startKelpConsumer(connection, channel, topology, order, CONSUMER_PREFETCH, sink);
    } else if (row.consumer === 'raw') {
      consumer = await startRawConsumer(options.url, topology, order, sink);
    } else {
      // Kombu's start-up (interpreter, imports, declares) is left out: the counters and the
      // clock start again once it is ready, right before its first BRPOP.
      consumer = await startKombuConsumer(options.url, prefix, queues, sink, async () => {
        before = options.probe ? await options.probe.read() : undefined;
        phaseStart = wallNow();
      });
    }
    const drained = await consumer.waitFor(() => collected.drain.length >= options.messages, options.timeoutMs);
    const drainEnd = wallNow();
    const cpuUs = consumer.cpuUs();
    const after = options.probe ? await options.probe.read() : undefined;
    if (!drained) throw new Error(`drain timed out after ${options.timeoutMs} ms (${collected.drain.length}/${options.messages})`);
    // The drain is timed from its first delivery to its last, on the consumer's own clock: the
    // consumer's connection set-up (tens of ms for a drain of a few hundred messages) is not
    // what a row compares, and Kombu's clock is another process's.
    const servedTimes = collected.drain.map((d) => d.servedAt);
    const firstServed = servedTimes.reduce((m, t) => Math.min(m, t), Number.POSITIVE_INFINITY);
    const lastServed = servedTimes.reduce((m, t) => Math.max(m, t), Number.NEGATIVE_INFINITY);
    const seconds = options.messages > 1 && lastServed > firstServed ? (lastServed - firstServed) / 1000 : (drainEnd - phaseStart) / 1000;
    const deliveries = options.messages > 1 ? options.messages - 1 : options.messages;
    const fairness = measureFairness(collected.drain, { queues, windowMs: options.windowMs, start: Number.isFinite(firstServed) ? firstServed : phaseStart });
    const servedByQueue = new Array<number>(queues).fill(0);
    for (const d of collected.drain) if (d.queue >= 0) servedByQueue[d.queue] = (servedByQueue[d.queue] as number) + 1;

    // Paced phase: the same consumer keeps running while the producer publishes at a fixed rate.
    collected.phase = 'paced';
    const pacedRate = load.rate ?? options.rate;
    const pacing = startProducer(job(planMessages(load, options.pacedMessages), pacedRate, options.messages), inProcess, options.timeoutMs).done;
    // Rate 0: the producer saturates, so the latency is that of a consumer under full load.
    const publishMs = pacedRate > 0 ? (options.pacedMessages / pacedRate) * 1000 : 0;
    const paced = await consumer.waitFor(() => collected.paced.length >= options.pacedMessages, options.timeoutMs + publishMs);
    await pacing;
    if (!paced) throw new Error(`paced phase timed out (${collected.paced.length}/${options.pacedMessages})`);
    collected.phase = 'idle';

    const latencies = collected.paced.map((d) => d.servedAt - d.publishedAt);
    const perQueue: QueueLatency[] = Array.from({ length: queues }, (_, q) => {
      const summary = summarizeLatency(collected.paced.filter((d) => d.queue === q).map((d) => d.servedAt - d.publishedAt));
      return { queue: q, count: summary.count, p50: summary.p50, p99: summary.p99, p999: summary.p999 };
    });
    const result: PollingResult = {
      ...base,
      messages: options.messages,
      throughput: seconds > 0 ? deliveries / seconds : Number.NaN,
      latencyMs: summarizeLatency(latencies),
      perQueue,
      jain: fairness.jain,
      jainMin: fairness.jainMin,
      jainWindows: fairness.windows,
      starvationMs: fairness.starvationMs,
      servedByQueue,
      cpuUsPerMsg: cpuUs / options.messages,
    };
    if (before && after) {
      const redis = diffCounters(before, after);
      // The probe's own INFO (one command, one read) lands inside the diff; take it out.
      result.commandsPerMsg = Math.max(redis.commands - 1, 0) / options.messages;
      result.roundTripsPerMsg = Math.max(redis.reads - 1, 0) / options.messages;
      result.redisCpuUsPerMsg = redis.cpuUs / options.messages;
    }
    return result;
  } catch (error) {
    return { ...base, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  } finally {
    try {
      await consumer?.stop();
      if (topology) await dropTopology(await connection.channel(), topology);
    } finally {
      await closeConnection(connection);
    }
  }
}

/** A figure of a result, as the spread and the comparison read it. */
export function figureOf(result: PollingResult, figure: Figure): number | undefined {
  switch (figure) {
    case 'p50':
    case 'p99':
    case 'p999':
      return result.latencyMs?.[figure];
    default:
      return result[figure];
  }
}

/** The median row of several runs of one configuration, with each figure's spread. */
export function medianOf(runs: readonly PollingResult[]): PollingResult {
  const ok = runs.filter((r) => !r.error);
  const first = runs[0] as PollingResult;
  if (ok.length === 0) return { ...first, repeats: runs.length };
  const spreads: Partial<Record<Figure, Spread>> = {};
  for (const figure of FIGURES) {
    const values = ok.map((r) => figureOf(r, figure)).filter((v): v is number => v !== undefined);
    if (values.length > 0) spreads[figure] = spread(values);
  }
  const med = (figure: Figure): number => spreads[figure]?.median ?? Number.NaN;
  const sample = ok[0] as PollingResult;
  const result: PollingResult = {
    ...sample,
    throughput: med('throughput'),
    jain: med('jain'),
    jainMin: med('jainMin'),
    jainWindows: Math.round(spread(ok.map((r) => r.jainWindows)).median),
    starvationMs: med('starvationMs'),
    cpuUsPerMsg: med('cpuUsPerMsg'),
    repeats: runs.length,
    spread: spreads,
  };
  if (sample.latencyMs) result.latencyMs = { ...sample.latencyMs, p50: med('p50'), p99: med('p99'), p999: med('p999') };
  for (const figure of ['commandsPerMsg', 'roundTripsPerMsg', 'redisCpuUsPerMsg'] as const) if (spreads[figure]) result[figure] = med(figure);
  if (ok.length < runs.length) result.error = `${runs.length - ok.length} of ${runs.length} runs failed: ${runs.find((r) => r.error)?.error ?? ''}`;
  return result;
}

const keyOf = (load: string, row: Row): string => `${load}\u0000${row.consumer}\u0000${row.cycle}\u0000${row.mode}\u0000${row.tracking ?? 'on'}`;

/** Runs every (load, row) `repeat` times, alternating the row order between repeats. */
export async function runPollingBench(options: PollingOptions): Promise<PollingReport> {
  const repeat = options.repeat ?? 1;
  const rows = rowsOf(options);
  const warm = options.warmup !== false;
  const firstLoad = options.loads[0];
  const report: PollingReport = {
    // Printed and written into the HTML report: never the URL's password.
    url: redactUrl(options.url),
    queues: firstLoad?.queues.length ?? 0,
    messages: options.messages,
    rate: options.rate,
    pacedMessages: options.pacedMessages,
    interval: options.interval,
    windowMs: options.windowMs,
    repeat,
    warmup: warm ? `one unrecorded run first (${firstLoad?.name ?? '-'} load, round_robin batched, ${Math.min(options.messages, WARMUP_MESSAGES)} messages)` : 'none',
    startedAt: new Date().toISOString(),
    loads: options.loads.map((l) => ({ name: l.name, description: l.description, queues: l.queues.length })),
    results: [],
    runs: [],
  };
  // One small unrecorded run first, so the first configuration is not the one that pays for JIT
  // compilation and connection warm-up.
  if (warm && firstLoad) {
    await runOne({ ...options, messages: Math.min(options.messages, WARMUP_MESSAGES), pacedMessages: 20 }, firstLoad, { consumer: 'kelp', cycle: 'round_robin', mode: 'batched' });
  }
  const byKey = new Map<string, PollingResult[]>();
  for (let r = 0; r < repeat; r += 1) {
    // Odd repeats run the rows backwards, so no row always runs right after the same neighbour
    // or always at the same point of the machine's warm-up and background load.
    const ordered = r % 2 === 0 ? rows : [...rows].reverse();
    for (const load of options.loads) {
      for (const row of ordered) {
        const result = await runOne(options, load, row);
        report.runs.push(result);
        const key = keyOf(load.name, row);
        byKey.set(key, [...(byKey.get(key) ?? []), result]);
        options.onResult?.(result);
      }
    }
  }
  for (const load of options.loads) for (const row of rows) report.results.push(medianOf(byKey.get(keyOf(load.name, row)) ?? []));
  return report;
}
