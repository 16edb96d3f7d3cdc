/**
 * What `kelp inspect` reads in the sharded cluster layout: every queue on every master, found by
 * its keys (SCAN of `<prefix>{*` on each master serving a slot), with its waiting messages per
 * priority step, dead letters and unacked deliveries, all read on the queue's own master.
 */
import { throwIfAborted } from '@kelp/core';
import type { ClusterNodePool } from './cluster-node-pool.js';
import type { RedisKeys } from './keys.js';
import { globEscape, scanKeys } from './scan-keys.js';

export interface ShardedQueueRow {
  queue: string;
  /** The master the queue's keys are on, `host:port`. */
  master: string;
  /** Waiting messages over every priority step. */
  waiting: number;
  /** Waiting messages per priority step. */
  steps: Map<number, number>;
  deadLetters: number;
  unacked: number;
}

/** Every queue with a key on any master, sorted by name. */
export async function inspectEveryShard(pool: ClusterNodePool, keys: RedisKeys, signal?: AbortSignal): Promise<ShardedQueueRow[]> {
  const rows: ShardedQueueRow[] = [];
  for (const client of await pool.everyMaster()) {
    throwIfAborted(signal);
    const queues = new Set<string>();
    for (const key of await scanKeys(client, `${globEscape(keys.prefix)}{*`, signal)) {
      const queue = keys.queueFromKey(key);
      // Only keys this layout builds for the queue (the glob may match other names).
      if (ownKeys(keys, queue).includes(key)) queues.add(queue);
    }
    const ordered = [...queues];
    const pipeline = client.pipeline();
    for (const queue of ordered) {
      for (const step of keys.steps) pipeline.llen(keys.queueKey(queue, step));
      pipeline.llen(keys.deadLetterKey(queue));
      pipeline.hlen(keys.unackedKeys(queue).unacked);
    }
    const replies = ((await pipeline.exec()) ?? []).map(([error, value]) => {
      if (error) throw error;
      return Number(value);
    });
    const perQueue = keys.steps.length + 2;
    const master = `${client.options.host ?? ''}:${client.options.port ?? ''}`;
    ordered.forEach((queue, i) => {
      const at = i * perQueue;
      const steps = new Map(keys.steps.map((step, s) => [step, replies[at + s] ?? 0]));
      rows.push({
        queue,
        master,
        waiting: [...steps.values()].reduce((sum, n) => sum + n, 0),
        steps,
        deadLetters: replies[at + keys.steps.length] ?? 0,
        unacked: replies[at + keys.steps.length + 1] ?? 0,
      });
    });
  }
  return rows.sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
}

/** The keys of a queue that start with its tag. */
function ownKeys(keys: RedisKeys, queue: string): string[] {
  try {
    const unacked = keys.unackedKeys(queue);
    return [...keys.queueKeys(queue), keys.deadLetterKey(queue), unacked.unacked, unacked.unackedIndex, unacked.unackedMutex];
  } catch {
    // A name the layout refuses (a brace in it): not a key of this layout.
    return [];
  }
}
