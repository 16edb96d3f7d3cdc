/**
 * Background work a channel started (deliveries a poller handed over, requeues, restore sweeps).
 * close() waits for it, so nothing touches the broker connection after the channel let go of it
 * (a requeue landing on a closed connection would leave its message in `unacked` until the
 * visibility timeout; a sweep cut off mid-batch would leave its mutex).
 */
export class InflightWork {
  private count = 0;
  /** Resolvers of settle() calls waiting for `count` to reach 0. */
  private drained: Array<() => void> = [];
  /** One function for every tracked promise (a poller's delivery is tracked per message). */
  private readonly untrack = (): void => {
    this.count -= 1;
    if (this.count > 0) return;
    const waiters = this.drained;
    this.drained = [];
    for (const resolve of waiters) resolve();
  };

  /** Work started and not yet settled. */
  get size(): number {
    return this.count;
  }

  /** Registers `work`; resolves/rejects as `work` does. */
  track<T>(work: Promise<T>): Promise<T> {
    this.count += 1;
    work.then(this.untrack, this.untrack);
    return work;
  }

  /** Waits until no tracked work is left (work may start more work while it runs). */
  async settle(): Promise<void> {
    while (this.count > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
  }
}
