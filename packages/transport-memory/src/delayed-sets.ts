/**
 * `DelayedSets`: the delayed messages of a memory:// broker, per queue, earliest due first (what
 * the Redis transport keeps in `_kelp.delayed.<q>`). Pure bookkeeping; the broker decides what a
 * move into the queue does.
 */

/** A delayed message waiting for its due time. */
export interface DelayedEntry {
  dueAt: number;
  payload: string;
  priority: number;
}

export class DelayedSets {
  private readonly byQueue = new Map<string, DelayedEntry[]>();

  /** Keeps `entry` for `queue`; equal due times keep publish order. */
  add(queue: string, entry: DelayedEntry): void {
    let entries = this.byQueue.get(queue);
    if (!entries) {
      entries = [];
      this.byQueue.set(queue, entries);
    }
    let at = entries.length;
    while (at > 0 && (entries[at - 1] as DelayedEntry).dueAt > entry.dueAt) at--;
    entries.splice(at, 0, entry);
  }

  /** Takes the earliest entry due at `nowMs` over every queue, or undefined when none is due. */
  takeDue(nowMs: number): { queue: string; entry: DelayedEntry } | undefined {
    let first: [string, DelayedEntry[]] | undefined;
    for (const pair of this.byQueue) {
      const head = pair[1][0];
      if (head && head.dueAt <= nowMs && (!first || head.dueAt < (first[1][0] as DelayedEntry).dueAt)) first = pair;
    }
    if (!first) return undefined;
    const [queue, entries] = first;
    const entry = entries.shift() as DelayedEntry;
    if (entries.length === 0) this.byQueue.delete(queue);
    return { queue, entry };
  }

  delete(queue: string): void {
    this.byQueue.delete(queue);
  }

  count(queue: string): number {
    return this.byQueue.get(queue)?.length ?? 0;
  }

  dueCount(queue: string, nowMs: number): number {
    return this.byQueue.get(queue)?.filter((entry) => entry.dueAt <= nowMs).length ?? 0;
  }

  /** The earliest due time (epoch ms) of `queue`, or of every queue. */
  nextDueAt(queue?: string): number | undefined {
    if (queue !== undefined) return this.byQueue.get(queue)?.[0]?.dueAt;
    let next: number | undefined;
    for (const entries of this.byQueue.values()) {
      const due = entries[0]?.dueAt;
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
    return next;
  }

  queues(): string[] {
    return [...this.byQueue.keys()];
  }
}
