/**
 * Kombu's delivery record (MULTI ZADD unacked_index / HSET unacked / EXEC) for the deliveries of
 * one tick in one transaction. Fanout messages arrive over pub/sub, so unlike popped ones they
 * are recorded from the client, and one MULTI per delivery is costly (a fanout to 10 subscribers
 * records 10 per message). The tick's records share one transaction (TickBatch); each
 * delivery waits for the one carrying its record: the at-least-once guarantee is the same as
 * with one transaction each.
 */
import { ChannelError } from '@kelp/core';
import type { Redis } from 'ioredis';
import { TickBatch } from './tick-batch.js';

/** Records per transaction: bounds how long one EXEC holds the (single-threaded) server. */
const RECORDS_PER_CALL = 2000;

export class RecordBatcher {
  private readonly batches: TickBatch<readonly [tag: string, value: string]>;

  constructor(
    private readonly client: Redis,
    private readonly unacked: string,
    private readonly unackedIndex: string,
    /** Wall clock in seconds (unacked_index scores). */
    private readonly wallClock: () => number,
  ) {
    this.batches = new TickBatch(RECORDS_PER_CALL, (records) => this.write(records), 'recording deliveries');
  }

  /** Records `tag` with Kombu's `[envelope, exchange, routing_key]` value. */
  record(tag: string, value: string): Promise<void> {
    return this.batches.add([[tag, value]]);
  }

  private async write(records: readonly (readonly [string, string])[]): Promise<void> {
    const score = this.wallClock().toFixed(6);
    const zadd: string[] = [];
    // Same score for all: added in descending tag order each lands at the front of its score run
    // in a small (listpack) unacked_index, as pop-and-record does.
    const tags = records.map(([tag]) => tag).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
    for (const tag of tags) zadd.push(score, tag);
    // Kombu's order: ZADD, then HSET, in one transaction.
    const results = await this.client.multi().zadd(this.unackedIndex, ...zadd).hset(this.unacked, ...records.flat()).exec();
    if (results === null) throw new ChannelError('recording deliveries was aborted (EXEC returned nil)');
    for (const [error] of results) if (error) throw error;
  }
}
