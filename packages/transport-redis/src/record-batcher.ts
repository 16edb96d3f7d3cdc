/**
 * Kombu's delivery record (MULTI ZADD unacked_index / HSET unacked / EXEC) for the deliveries of
 * one tick in one transaction. Fanout messages arrive over pub/sub, so unlike popped ones they
 * are recorded from the client, and one MULTI per delivery cost ~118 us each (a fanout to 10
 * subscribers records 10 per message). Every caller gets the promise of the transaction that
 * carries its record, and is delivered only once it resolved: the at-least-once guarantee is the
 * same as with one transaction each.
 */
import { ChannelError } from '@kelp/core';
import type { Redis } from 'ioredis';

/** Records per transaction: bounds how long one EXEC holds the (single-threaded) server. */
const RECORDS_PER_CALL = 2000;

interface Batch {
  /** [tag, value] pairs in arrival order. */
  fields: string[];
  done: Promise<void>;
  settle: (error?: unknown) => void;
}

export class RecordBatcher {
  private batch: Batch | undefined;

  constructor(
    private readonly client: Redis,
    private readonly unacked: string,
    private readonly unackedIndex: string,
    /** Wall clock in seconds (unacked_index scores). */
    private readonly wallClock: () => number,
  ) {}

  /** Records `tag` with Kombu's `[envelope, exchange, routing_key]` value. */
  record(tag: string, value: string): Promise<void> {
    let batch = this.batch;
    if (!batch) {
      let settle!: (error?: unknown) => void;
      const done = new Promise<void>((resolve, reject) => {
        settle = (error?: unknown) => (error === undefined ? resolve() : reject(error));
      });
      batch = this.batch = { fields: [], done, settle };
      // nextTick: every delivery of the current hub reader (one drain of the pub/sub buffer)
      // joins this transaction, and none waits for a whole loop turn.
      process.nextTick(() => this.flush());
    }
    batch.fields.push(tag, value);
    return batch.done;
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (!batch) return;
    const score = this.wallClock().toFixed(6);
    const calls: Promise<void>[] = [];
    for (let i = 0; i < batch.fields.length; i += RECORDS_PER_CALL * 2) {
      calls.push(this.write(batch.fields.slice(i, i + RECORDS_PER_CALL * 2), score));
    }
    Promise.all(calls).then(
      () => batch.settle(),
      (error: unknown) => batch.settle(error ?? new ChannelError('recording deliveries failed without a reason')),
    );
  }

  private async write(fields: string[], score: string): Promise<void> {
    const zadd: string[] = [];
    // Same score for all: added in descending tag order each lands at the front of its score run
    // in a small (listpack) unacked_index, as pop-and-record does.
    const tags = fields.filter((_, i) => i % 2 === 0).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
    for (const tag of tags) zadd.push(score, tag);
    // Kombu's order: ZADD, then HSET, in one transaction.
    const results = await this.client.multi().zadd(this.unackedIndex, ...zadd).hset(this.unacked, ...fields).exec();
    if (results === null) throw new ChannelError('recording deliveries was aborted (EXEC returned nil)');
    for (const [error] of results) if (error) throw error;
  }
}
