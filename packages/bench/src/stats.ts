/**
 * Small statistics used by every benchmark: percentiles over latency samples and Jain's fairness
 * index (fairness.ts applies it over time windows). Pure functions, so the report numbers can be
 * unit-tested without a broker.
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
  // The epsilon keeps float error from moving an exact rank up one: 99.9 / 100 * 2000 is
  // 1998.0000000000002 in doubles, and the 99.9th percentile of 2,000 samples is the 1,998th.
  const rank = Math.ceil((Math.min(Math.max(p, 0), 100) * sorted.length) / 100 - 1e-9);
  return sorted[Math.max(rank - 1, 0)] as number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  /** p99.9: with fewer than 1,000 samples this is the maximum. */
  p999: number;
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
    p999: percentileOfSorted(sorted, 99.9),
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

/** The median and the range of repeated measurements of one figure (NaN values left out). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Measurements that had a value. */
  n: number;
}

export function spread(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length };
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
