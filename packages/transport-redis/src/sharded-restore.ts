/**
 * The visibility restore of the sharded cluster layout: every queue records its deliveries in
 * its own unacked keys, in its own slot (keys.ts), so a sweep visits every master serving a slot,
 * finds the queues with records there by their `unacked_index` keys (SCAN), and runs the
 * ordinary batched restore (restore-batches.ts) on each queue's own trio, on that master.
 *
 * An entry goes back to the queue it was popped from, not through its exchange again: the
 * queue's records can only name that queue's keys in a script on its node, and the message was
 * routed once already (re-routing would also copy it to every other queue bound to the exchange).
 */
import { throwIfAborted } from '@kelp/core';
import type { ClusterNodePool } from './cluster-node-pool.js';
import type { RedisKeys } from './keys.js';
import { restoreInBatches, type BatchRestoreOptions, type BatchRestoreResult, type RestoredItem } from './restore-batches.js';
import { globEscape, scanKeys } from './scan-keys.js';

export type ShardedRestoreOptions = Omit<BatchRestoreOptions, 'resolve'>;

export interface ShardedRestoreResult extends BatchRestoreResult {
  /** The queues whose records were examined, over every master. */
  queues: number;
  /** The masters visited. */
  masters: number;
}

/** Restores the expired records of every queue on every master (or of `options.queue` only). */
export async function restoreEveryShard(pool: ClusterNodePool, keys: RedisKeys, options: ShardedRestoreOptions): Promise<ShardedRestoreResult> {
  const indexSuffix = keys.unackedKeys('x').unackedIndex.slice(keys.queueKey('x').length);
  const pattern = `${globEscape(keys.prefix)}{*}${globEscape(indexSuffix)}`;
  const items: RestoredItem[] = [];
  let lockBusy = false;
  let queues = 0;
  const masters = await pool.everyMaster();
  for (const client of masters) {
    throwIfAborted(options.signal);
    for (const key of await scanKeys(client, pattern, options.signal, 'zset')) {
      const queue = keys.queueFromKey(key);
      // Only a key this layout built: the glob's `*` may also match a brace or a separator.
      if (keys.unackedKeys(queue).unackedIndex !== key) continue;
      if (options.queue !== undefined && options.queue !== queue) continue;
      queues++;
      const target = [queue] as const;
      const result = await restoreInBatches(client, keys.scopedToQueue(queue), { ...options, resolve: async () => target });
      items.push(...result.items);
      lockBusy ||= result.lockBusy;
    }
  }
  return { items, lockBusy, queues, masters: masters.length };
}
