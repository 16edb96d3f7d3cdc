/**
 * Collects what the current tick asks for into one batch and sends it once the tick's callback
 * and its microtasks are done (process.nextTick): every item issued while delivering one popped
 * batch or one drain of the pub/sub buffer shares one call, and none waits a whole loop turn.
 * Every caller gets the promise of the batch carrying its items, so a failed send fails each of
 * them (none is reported done before Redis replied). Used for acks (AckCoalescer) and fanout
 * delivery records (RecordBatcher); PushBatcher settles each publish from its own reply entry.
 */
import { ChannelError } from '@kelp/core';

interface Batch<T> {
  items: T[];
  done: Promise<void>;
  settle: (error?: unknown) => void;
}

export class TickBatch<T> {
  private batch: Batch<T> | undefined;

  constructor(
    /** Items per send: bounds how long one call holds the (single-threaded) server. */
    private readonly perCall: number,
    private readonly send: (items: T[]) => Promise<unknown>,
    /** Says what failed when a send rejects without a reason. */
    private readonly what: string,
    /** Runs a turn after each batch settled. */
    private readonly afterSettle?: () => void,
  ) {}

  /** Adds `items` to this tick's batch; resolves once the send carrying them succeeded. */
  add(items: readonly T[]): Promise<void> {
    let batch = this.batch;
    if (!batch) {
      let settle!: (error?: unknown) => void;
      const done = new Promise<void>((resolve, reject) => {
        settle = (error?: unknown) => (error === undefined ? resolve() : reject(error));
      });
      batch = this.batch = { items: [], done, settle };
      process.nextTick(() => this.flush());
    }
    for (const item of items) batch.items.push(item);
    return batch.done;
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (!batch) return;
    const { items } = batch;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < items.length; i += this.perCall) {
      sends.push(this.send(items.length <= this.perCall ? items : items.slice(i, i + this.perCall)));
    }
    const settled = Promise.all(sends).then(
      () => batch.settle(),
      (error: unknown) => batch.settle(error ?? new ChannelError(`${this.what} failed without a reason`)),
    );
    // After a turn, not at once: the callers' own reactions to the batch are microtasks, and
    // whoever afterSettle wakes should see what they did.
    const { afterSettle } = this;
    if (afterSettle) void settled.then(() => setImmediate(afterSettle));
  }
}
