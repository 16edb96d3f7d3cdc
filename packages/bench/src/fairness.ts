/**
 * Fairness and starvation of a consumer over several queues, from what it served and when each
 * message was published. Both are measured only over the times a queue *held* messages, because
 * serving an empty queue is impossible and a strategy must not be blamed for the load's shape:
 *
 * - Jain's index per fixed time window: the timeline is cut into windows of `windowMs`; a window
 *   counts when at least two queues held messages through the whole of it, and its index is
 *   Jain's (sum x)^2 / (n sum x^2) over the deliveries x of those queues in it (1 = equal service,
 *   1/n = one queue served). The result is the mean over counted windows, weighted by their
 *   deliveries, with the lowest window's index next to it.
 * - Starvation: for each delivery, the time since that queue was last served or, if it was empty
 *   then, since its next message was published; the longest of these (and, for a queue still
 *   holding messages when the run ended, the time from then to the end) is the longest any
 *   non-empty queue went unserved.
 *
 * "Held messages at t" is counted as published-by-t minus served-by-t, with the publisher's
 * timestamp (taken just before the publish is sent) as the publish time: a queue counts as
 * non-empty up to one publish round trip before its message lands. Pure functions, so every
 * figure can be checked by hand in a unit test.
 */
import { jainIndex } from './stats.js';

/** One delivered message: its queue, when it was published and when the consumer got it (ms). */
export interface Delivery {
  queue: number;
  publishedAt: number;
  servedAt: number;
}

export interface FairnessOptions {
  /** Number of queues (queues never delivered from still count: they are the starved ones). */
  queues: number;
  /** Window length in ms for Jain's index. */
  windowMs: number;
  /**
   * Where the timeline starts (ms, same clock as the deliveries); earlier publishes count as made
   * at the start (a prefilled backlog). Default: the first publish.
   */
  start?: number;
  /** Where it ends (ms). Default: the last delivery. */
  end?: number;
  /**
   * Messages published but never delivered, per queue, with their publish times: they keep
   * their queue non-empty until `end`. Default: none.
   */
  undelivered?: readonly { queue: number; publishedAt: number }[];
}

export interface FairnessResult {
  /** Delivery-weighted mean of Jain's index over the counted windows; NaN when none counted. */
  jain: number;
  /** The lowest window index among the counted windows; NaN when none counted. */
  jainMin: number;
  /** Windows in which at least two queues held messages throughout. */
  windows: number;
  /** Deliveries inside the counted windows (from the queues that were counted in them). */
  windowDeliveries: number;
  windowMs: number;
  /** Longest time (ms) any queue holding messages went unserved. */
  starvationMs: number;
  /** The queue that waited that long (-1 when nothing waited). */
  starvedQueue: number;
  /** Longest unserved wait per queue while it held messages (ms). */
  starvationByQueue: number[];
}

/** A queue's backlog as a step function: +1 at each publish, -1 at each delivery. */
interface Step {
  at: number;
  delta: number;
}

/** Intervals [from, to) during which a queue held at least one message. */
function busyIntervals(steps: Step[], end: number): Array<[number, number]> {
  // Publishes sort before deliveries at the same instant, so a message served the moment it is
  // published still counts as held (for zero time).
  steps.sort((a, b) => a.at - b.at || b.delta - a.delta);
  const out: Array<[number, number]> = [];
  let depth = 0;
  let since = 0;
  for (const step of steps) {
    if (depth === 0 && step.delta > 0) since = step.at;
    depth += step.delta;
    if (depth === 0) out.push([since, step.at]);
  }
  if (depth > 0) out.push([since, Math.max(end, since)]);
  return out;
}

/** Whether [from, to) lies inside one of the sorted, disjoint `intervals`. */
function heldThroughout(intervals: ReadonlyArray<[number, number]>, from: number, to: number): boolean {
  return intervals.some(([a, b]) => a <= from && to <= b);
}

/** Computes windowed Jain's index and starvation (see the module header for the definitions). */
export function measureFairness(deliveries: readonly Delivery[], options: FairnessOptions): FairnessResult {
  const n = options.queues;
  const undelivered = options.undelivered ?? [];
  // A loop, not Math.min(...): a spread of 100k arguments overflows the stack.
  let firstPublish = Number.POSITIVE_INFINITY;
  for (const m of [...deliveries, ...undelivered]) firstPublish = Math.min(firstPublish, m.publishedAt);
  const start = options.start ?? (Number.isFinite(firstPublish) ? firstPublish : 0);
  const lastServed = deliveries.reduce((m, d) => Math.max(m, d.servedAt), start);
  const end = options.end ?? lastServed;
  const steps: Step[][] = Array.from({ length: n }, () => []);
  const served: number[][] = Array.from({ length: n }, () => []);
  for (const d of deliveries) {
    if (d.queue < 0 || d.queue >= n) continue;
    (steps[d.queue] as Step[]).push({ at: Math.max(d.publishedAt, start), delta: 1 }, { at: d.servedAt, delta: -1 });
    (served[d.queue] as number[]).push(d.servedAt);
  }
  for (const u of undelivered) if (u.queue >= 0 && u.queue < n) (steps[u.queue] as Step[]).push({ at: Math.max(u.publishedAt, start), delta: 1 });
  const busy = steps.map((s) => busyIntervals(s, end));

  // Starvation: within each busy interval, the gaps between its start, the deliveries in it and
  // (for the last interval of a queue still holding messages) the end of the run.
  const starvationByQueue = new Array<number>(n).fill(0);
  for (let q = 0; q < n; q += 1) {
    const times = (served[q] as number[]).sort((a, b) => a - b);
    let k = 0;
    for (const [from, to] of busy[q] as Array<[number, number]>) {
      let last = from;
      while (k < times.length && (times[k] as number) <= to) {
        const t = times[k] as number;
        if (t >= from) {
          starvationByQueue[q] = Math.max(starvationByQueue[q] as number, t - last);
          last = t;
        }
        k += 1;
      }
      starvationByQueue[q] = Math.max(starvationByQueue[q] as number, to - last);
    }
  }
  let starvationMs = 0;
  let starvedQueue = -1;
  starvationByQueue.forEach((wait, q) => {
    if (wait > starvationMs) {
      starvationMs = wait;
      starvedQueue = q;
    }
  });

  // Jain per window.
  const windowMs = options.windowMs;
  let weighted = 0;
  let weight = 0;
  let windows = 0;
  let jainMin = Number.NaN;
  if (windowMs > 0) {
    // Deliveries per queue per window index, counted once.
    const perWindow = served.map((times) => {
      const counts = new Map<number, number>();
      for (const t of times) {
        const w = Math.floor((t - start) / windowMs);
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
      return counts;
    });
    const whole = Math.floor((end - start) / windowMs + 1e-9);
    for (let w = 0; w < whole; w += 1) {
      const from = start + w * windowMs;
      const to = from + windowMs;
      const eligible: number[] = [];
      for (let q = 0; q < n; q += 1) if (heldThroughout(busy[q] as Array<[number, number]>, from, to)) eligible.push(q);
      if (eligible.length < 2) continue;
      const counts = eligible.map((q) => (perWindow[q] as Map<number, number>).get(w) ?? 0);
      const total = counts.reduce((a, b) => a + b, 0);
      const index = jainIndex(counts);
      windows += 1;
      // A window in which nothing was served at all (everyone waited) is equally unfair to all:
      // it counts as 1 in the minimum but carries no weight.
      weighted += index * total;
      weight += total;
      jainMin = Number.isNaN(jainMin) ? index : Math.min(jainMin, index);
    }
  }
  return {
    jain: weight > 0 ? weighted / weight : Number.NaN,
    jainMin,
    windows,
    windowDeliveries: weight,
    windowMs,
    starvationMs,
    starvedQueue,
    starvationByQueue,
  };
}
