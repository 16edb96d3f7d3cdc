/**
 * Small statistics used by every benchmark: percentiles over latency samples, Jain's fairness
 * index and the longest wait of a queue that still held messages. Pure functions, so the report
 * numbers can be unit-tested without a broker.
 */

/** The p-th percentile (0-100) by nearest rank on a copy of `samples`; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return percentileOfSorted(sorted, p);
}

/** Nearest-rank percentile on already sorted samples (avoids re-sorting for p50 and p99). */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * sorted.length);
  return sorted[Math.max(rank - 1, 0)] as number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Summarizes latency samples (any unit; the benches use milliseconds). */
export function summarizeLatency(samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

/**
 * Jain's fairness index (sum x)^2 / (n * sum x^2): 1 when every queue got the same service,
 * 1/n when one queue got all of it. An all-zero input counts as perfectly fair (nobody served,
 * nobody favoured).
 */
export function jainIndex(service: readonly number[]): number {
  if (service.length === 0) return Number.NaN;
  let sum = 0;
  let squares = 0;
  for (const x of service) {
    sum += x;
    squares += x * x;
  }
  return squares === 0 ? 1 : (sum * sum) / (service.length * squares);
}

/** One delivery in a drain: which queue served it and when (ms since the drain started). */
export interface ServiceEvent {
  queue: number;
  at: number;
}

export interface FairnessResult {
  /** Jain's index over per-queue deliveries while every queue still held messages. */
  jain: number;
  /** Deliveries in that window (so a reader can judge how much the index says). */
  window: number;
  /** Longest time (ms) any queue that still held messages went without being served. */
  longestWaitMs: number;
  /** The queue that waited longest. */
  longestWaitQueue: number;
}

/**
 * Fairness of a backlog drain. `backlog[i]` is how many messages queue i held when the drain
 * started (nothing was added during it), so queue i is non-empty until its backlog[i]-th delivery.
 * The Jain window ends when the first queue runs dry, because after that equal service is no
 * longer possible and the index would punish a strategy for the load's shape, not its choices.
 */
export function drainFairness(backlog: readonly number[], events: readonly ServiceEvent[]): FairnessResult {
  const n = backlog.length;
  const served = new Array<number>(n).fill(0);
  const lastServed = new Array<number>(n).fill(0);
  const windowCounts = new Array<number>(n).fill(0);
  let windowOpen = backlog.every((b) => b > 0);
  let window = 0;
  let longestWaitMs = 0;
  let longestWaitQueue = -1;
  for (const event of events) {
    const q = event.queue;
    if (q < 0 || q >= n) continue;
    const wait = event.at - (lastServed[q] as number);
    if (wait > longestWaitMs) {
      longestWaitMs = wait;
      longestWaitQueue = q;
    }
    lastServed[q] = event.at;
    served[q] = (served[q] as number) + 1;
    if (windowOpen) {
      windowCounts[q] = (windowCounts[q] as number) + 1;
      window += 1;
      if ((served[q] as number) >= (backlog[q] as number)) windowOpen = false;
    }
  }
  // A queue never served at all while holding messages waited for the whole drain.
  const end = events.length > 0 ? (events[events.length - 1] as ServiceEvent).at : 0;
  for (let q = 0; q < n; q += 1) {
    if ((backlog[q] as number) > (served[q] as number)) {
      const wait = end - (lastServed[q] as number);
      if (wait > longestWaitMs) {
        longestWaitMs = wait;
        longestWaitQueue = q;
      }
    }
  }
  return { jain: jainIndex(windowCounts), window, longestWaitMs, longestWaitQueue };
}

/** Splits `total` messages over `queues` queues: evenly, or Zipf-skewed (queue i ~ 1/(i+1)). */
export function distribute(total: number, queues: number, shape: 'even' | 'skewed'): number[] {
  const weights = Array.from({ length: queues }, (_, i) => (shape === 'even' ? 1 : 1 / (i + 1)));
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.floor((total * w) / weightSum));
  // Hand the rounding remainder to the heaviest queues so the total is exact.
  let rest = total - counts.reduce((a, b) => a + b, 0);
  for (let i = 0; rest > 0; i = (i + 1) % queues, rest -= 1) counts[i] = (counts[i] as number) + 1;
  return counts;
}

/** Median of a few repeated measurements (the runners report medians of 3). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * Keeps at most `capacity` latency samples (uniform reservoir sampling, seeded so runs are
 * repeatable), so that a consumer draining a million messages does not grow its own heap by
 * recording them, which would spoil the peak-RSS measurement it is part of.
 */
export class LatencyRecorder {
  private readonly samples: Float64Array;
  private seen = 0;
  private seed = 0x9e3779b9;

  constructor(private readonly capacity = 100_000) {
    this.samples = new Float64Array(capacity);
  }

  get count(): number {
    return this.seen;
  }

  record(value: number): void {
    if (this.seen < this.capacity) {
      this.samples[this.seen] = value;
    } else {
      const slot = this.random() % (this.seen + 1);
      if (slot < this.capacity) this.samples[slot] = value;
    }
    this.seen += 1;
  }

  summary(): LatencySummary {
    const kept = Array.from(this.samples.subarray(0, Math.min(this.seen, this.capacity)));
    return { ...summarizeLatency(kept), count: this.seen };
  }

  /** xorshift32: cheap and deterministic. */
  private random(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }
}
