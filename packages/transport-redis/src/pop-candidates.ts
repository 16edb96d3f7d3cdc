/**
 * Which queue lists a channel's next pop should name. Sending every queue x priority step (and
 * each one's dead-letter key) to every pop makes a channel with many queues pay for all of them on
 * every batch, on both sides (figures in docs/performance.md#costs-behind-the-design).
 *
 * So the poller remembers the lists found empty. Each pop is followed, in the same pipeline, by
 * leading-empty over the lists it named: that read (CLIENT TRACKING on) arms an invalidation, so
 * the first write to a list seen empty by anyone sends its name to the subscriber connection,
 * and the list is a candidate again. Lists never seen empty are always candidates, so a new queue is popped at once.
 *
 * The race: an invalidation can overtake the reply of a pop that is still in flight (they travel
 * on different connections). If the reply then said "empty", trusting it would drop a list that
 * just received a message, and the invalidation that would bring it back is already spent. So
 * every invalidation is numbered, and a pop's "found empty" only counts for lists not
 * invalidated since that pop was sent.
 */
import { BoundedMemo } from './bounded-memo.js';
import type { RedisKeys } from './keys.js';

/** One list to pop and where its malformed entries go. */
export type PopPair = readonly [queueKey: string, deadLetterKey: string];

interface QueueKeys {
  /** The queue's list keys, one per priority step, ascending. */
  readonly byStep: readonly PopPair[];
}

/** Cached key strings are dropped past this many queues (names seen over a long life). */
const KEY_CACHE_LIMIT = 10_000;

export class PopCandidates {
  /** Lists found empty by a pop (and armed), not written to since as far as we know. */
  private readonly empty = new Set<string>();
  /** Invalidation number per list, kept only while pops are in flight (see the header). */
  private readonly invalidatedAt = new Map<string, number>();
  private seq = 0;
  /** Number of the last "forget everything" (flush, tracking re-enabled, fallback timer). */
  private resetAt = 0;
  private readonly cache = new BoundedMemo<QueueKeys>(KEY_CACHE_LIMIT, (queue) => {
    const dead = this.keys.deadLetterKey(queue);
    return { byStep: this.keys.steps.map((step) => [this.keys.queueKey(queue, step), dead] as const) };
  });

  constructor(private readonly keys: RedisKeys) {}

  /** The current invalidation number; a pop remembers it when it is sent. */
  get mark(): number {
    return this.seq;
  }

  /** Lists known empty (for tests and diagnostics). */
  get emptyCount(): number {
    return this.empty.size;
  }

  private keysOf(queue: string): QueueKeys {
    return this.cache.get(queue);
  }

  /**
   * The lists to pop, in Kombu's order (priority step first, then the queues' cycle order), minus
   * those known empty. Skipping empty lists keeps the order of the others, so round_robin,
   * priority and sorted cycles behave as if every list had been named. At most `max`: a pop
   * takes from the first non-empty lists only, so a prefix is enough when the lists left out
   * are sure to be named later (the ones it finds empty drop out, the next pop goes further).
   */
  select(queues: readonly string[], max = Infinity): PopPair[] {
    const steps = this.keys.steps.length;
    const out: PopPair[] = [];
    // Queue keys are looked up lazily: with many queues a pop usually stops within the first step.
    for (let step = 0; step < steps; step++) {
      for (const queue of queues) {
        const pair = this.keysOf(queue).byStep[step] as PopPair;
        if (this.empty.has(pair[0])) continue;
        out.push(pair);
        if (out.length >= max) return out;
      }
    }
    return out;
  }

  /**
   * What the pop behind a blocking wait on `queue` names: the step-0 list it waits on, then the
   * queue's other steps not known empty. A write to one of those is announced and cuts the wait
   * short (the poller then pops it), so the pop need not try them: naming three empty priority
   * lists made each paced delivery cost three more RPOPs inside the pop.
   */
  forWait(queue: string): PopPair[] {
    const [first, ...rest] = this.keysOf(queue).byStep;
    return [first as PopPair, ...rest.filter((pair) => !this.empty.has(pair[0]))];
  }

  /**
   * The leading-empty read that followed a pop sent when `mark` was current found the first
   * `count` of these lists empty (and armed them). Lists invalidated since, or everything after
   * a reset since, stay candidates.
   */
  foundEmpty(pairs: readonly PopPair[], count: number, mark: number): void {
    if (this.resetAt > mark) return;
    for (let i = 0; i < count && i < pairs.length; i++) {
      const key = (pairs[i] as PopPair)[0];
      if ((this.invalidatedAt.get(key) ?? 0) > mark) continue;
      this.empty.add(key);
    }
  }

  /** Someone wrote to these lists (a tracking invalidation). */
  invalidate(keys: readonly string[]): void {
    this.seq++;
    for (const key of keys) {
      this.empty.delete(key);
      this.invalidatedAt.set(key, this.seq);
    }
  }

  /** Every list is a candidate again (flush invalidation, tracking (re)enabled or lost, fallback poll). */
  reset(): void {
    this.seq++;
    this.resetAt = this.seq;
    if (this.empty.size > 0) this.empty.clear();
  }

  /**
   * No pop is in flight: older invalidation numbers can no longer matter. (Cleared only when not
   * empty: clearing allocates a new table, in the old generation for this long-lived Map.)
   */
  idle(): void {
    if (this.invalidatedAt.size > 0) this.invalidatedAt.clear();
  }
}
