/**
 * The dashboard's repairs and dead-letter requeues in the sharded cluster layout: every key of a
 * queue (its lists, dead letters, unacked trio, delayed set) shares the queue's hash tag, so each
 * operation on one queue is the redis:// command or script (admin.ts, admin-messages.ts) sent to
 * that queue's master. Paging waiting messages, deleting one, purging, requeueing or deleting
 * dead letters go through VirtualAdmin over {@link shardedQueueHooks}; unacked pages and
 * restoring one message read each queue's own unacked keys on its master
 * ({@link ShardedUnackedRepair}). Moving messages between two queues is refused: the queues are
 * in two slots, often on two masters, and no single script can take a message from one and push
 * it to the other atomically.
 */
import type { Buffer } from 'node:buffer';
import { OperationalError, throwIfAborted, type UnackedMessage, type UnackedPage } from '@kelp/core';
import { UNACKED_SCAN_LIMIT, unackedPageBounds, type AdminStorage } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { RedisAdminContext } from './admin-context.js';
import { redisAdminStorage } from './admin.js';
import { redisMessageHooks, unackedRecord } from './admin-messages.js';
import type { ClusterNodePool } from './cluster-node-pool.js';
import type { RedisKeys } from './keys.js';
import type { RedisTransportOptions } from './options.js';
import { restoreOne } from './restore-batches.js';
import { globEscape, scanKeys } from './scan-keys.js';
import { shardedUnsupported } from './sharded-refusals.js';

/** How long restoring one message waits for its queue's busy unacked_mutex (as on redis://). */
const LOCK_WAIT_MS = 30_000;

type UnackedOptions = { queue?: string; offset?: number; limit?: number; signal?: AbortSignal };

export interface ShardedRepairContext {
  /** The transport's node pool (connecting first when needed). */
  pool(): Promise<ClusterNodePool>;
  readonly keys: RedisKeys;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds. */
  readonly wallClock: () => number;
  /** The broker URL without its password, for error messages. */
  readonly redactedUrl: string;
}

/** A hook this layout answers elsewhere (ShardedAdmin), never through VirtualAdmin. */
const elsewhere = (what: string) => (): never => {
  throw new OperationalError(`${what} is served by ShardedAdmin itself in the sharded layout`);
};

/**
 * The per-queue admin hooks, each on the queue's master: the redis:// hooks given that master's
 * connection (the keys are the sharded ones, so each command names one slot).
 */
export function shardedQueueHooks(ctx: ShardedRepairContext): AdminStorage<Buffer> {
  const { keys } = ctx;
  const on = (queue: string): RedisAdminContext => ({
    client: async () => (await ctx.pool()).forSlot(keys.queueSlot(queue)),
    keys,
    options: ctx.options,
    wallClock: ctx.wallClock,
    redactedUrl: ctx.redactedUrl,
  });
  return {
    visibilityTimeout: ctx.options.visibilityTimeout,
    now: ctx.wallClock,
    bindings: elsewhere('reading bindings'),
    declaredType: () => undefined,
    exchangeNames: elsewhere('listing exchanges'),
    queueNames: elsewhere('listing queues'),
    unackedMessages: elsewhere('listing unacked messages'),
    unackedTotal: elsewhere('counting unacked messages'),
    restoreExpired: elsewhere('restore'),
    unackedRange: elsewhere('paging unacked messages'),
    restoreTag: elsewhere('restoring one message'),
    moveWaiting: () => Promise.reject(shardedUnsupported('moving messages between queues (admin.moveMessages)')),

    // The step lengths only: what deleteMessage looks through.
    async queueDepth(queue) {
      const pipeline = (await on(queue).client()).pipeline();
      for (const step of keys.steps) pipeline.llen(keys.queueKey(queue, step));
      pipeline.llen(keys.deadLetterKey(queue));
      const replies = ((await pipeline.exec()) ?? []).map(([error, n]) => {
        if (error) throw error;
        return Number(n ?? 0);
      });
      return { steps: new Map(keys.steps.map((step, i) => [step, replies[i] ?? 0])), deadLetters: replies[keys.steps.length] ?? 0 };
    },
    stepLength: (queue, step) => redisMessageHooks(on(queue)).stepLength(queue, step),
    waitingRange: (queue, step, range) => redisMessageHooks(on(queue)).waitingRange(queue, step, range),
    removeWaiting: (queue, step, message) => redisMessageHooks(on(queue)).removeWaiting(queue, step, message),
    // The lists and the queue's delayed set, in its slot (the global delayed index is not touched).
    async purgeQueue(queue) {
      const multi = (await on(queue).client()).multi();
      // (count, DEL) pairs, as the channel's purge.
      for (const key of keys.queueKeys(queue)) multi.llen(key).del(key);
      multi.zcard(keys.delayedKey(queue)).del(keys.delayedKey(queue));
      const replies = (await multi.exec()) ?? [];
      return replies.filter((_, i) => i % 2 === 0).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
    },
    deadLetters: (queue, options) => redisAdminStorage(on(queue)).deadLetters(queue, options),
    moveDeadLetter: (queue, handle, envelope) => redisAdminStorage(on(queue)).moveDeadLetter(queue, handle, envelope),
    removeDeadLetter: (queue, handle) => redisMessageHooks(on(queue)).removeDeadLetter(queue, handle),
  };
}

/** Every queue with unacked records, on every master, with that master's connection. */
async function queuesWithUnacked(pool: ClusterNodePool, keys: RedisKeys, signal?: AbortSignal): Promise<{ queue: string; client: Redis }[]> {
  const indexSuffix = keys.unackedKeys('x').unackedIndex.slice(keys.queueKey('x').length);
  const pattern = `${globEscape(keys.prefix)}{*}${globEscape(indexSuffix)}`;
  const found: { queue: string; client: Redis }[] = [];
  for (const client of await pool.everyMaster()) {
    for (const key of await scanKeys(client, pattern, signal, 'zset')) {
      const queue = keys.queueFromKey(key);
      // Only a key this layout built: the glob's `*` may also match a brace or a separator.
      if (keys.unackedKeys(queue).unackedIndex === key) found.push({ queue, client });
    }
  }
  return found.sort((a, b) => a.queue.localeCompare(b.queue));
}

/** Unacked pages and restoring one message, over each queue's own unacked keys on its master. */
export class ShardedUnackedRepair {
  constructor(private readonly ctx: ShardedRepairContext) {}

  /**
   * Unacked messages of every queue (or of `queue`), oldest delivery first. Each record is owned
   * by the queue whose keys hold it (the one it was popped from, where a restore puts it back).
   * Reads at most UNACKED_SCAN_LIMIT index entries, as on redis://.
   */
  async unacked(options: UnackedOptions = {}): Promise<UnackedPage> {
    const { offset, limit } = unackedPageBounds(options);
    const { keys } = this.ctx;
    const pool = await this.ctx.pool();
    const queues =
      options.queue === undefined
        ? await queuesWithUnacked(pool, keys, options.signal)
        : [{ queue: options.queue, client: await pool.forSlot(keys.queueSlot(options.queue)) }];
    const entries: { queue: string; client: Redis; tag: string; since: number }[] = [];
    let total = 0;
    for (const { queue, client } of queues) {
      throwIfAborted(options.signal);
      const own = keys.unackedKeys(queue);
      const room = UNACKED_SCAN_LIMIT - entries.length;
      const [flat, count] = await Promise.all([room > 0 ? client.zrange(own.unackedIndex, 0, room - 1, 'WITHSCORES') : Promise.resolve([]), client.hlen(own.unacked)]);
      total += count;
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ queue, client, tag: flat[i] as string, since: Number(flat[i + 1]) });
    }
    entries.sort((a, b) => a.since - b.since);
    const page = entries.slice(offset, offset + limit);
    const items: UnackedMessage[] = [];
    for (const entry of page) {
      const [value] = await entry.client.hmgetBuffer(keys.unackedKeys(entry.queue).unacked, entry.tag);
      // Acked between the two reads: nothing to list.
      if (!value) continue;
      const record = unackedRecord(entry.tag, value, entry.since);
      items.push({
        ...(record.envelope ?? { raw: '', rawEncoding: 'utf8' as const }),
        tag: record.tag,
        exchange: record.exchange,
        routingKey: record.routingKey,
        queues: [entry.queue],
        since: entry.since,
      });
    }
    return { total, items, scanned: entries.length };
  }

  /**
   * Restores `tag` now in every queue that holds it (a publish routed to two queues records the
   * same tag in both), each back to its own queue under that queue's unacked_mutex.
   */
  async restoreMessage(tag: string, options: { signal?: AbortSignal } = {}): Promise<{ restored: boolean; queues: string[]; deadLettered: boolean }> {
    const { keys } = this.ctx;
    const queues: string[] = [];
    let deadLettered = false;
    for (const { queue, client } of await queuesWithUnacked(await this.ctx.pool(), keys, options.signal)) {
      throwIfAborted(options.signal);
      const scoped = keys.scopedToQueue(queue);
      if (!(await client.hexists(scoped.unacked, tag))) continue;
      const target = [queue] as const;
      const result = await restoreOne(client, scoped, tag, {
        resolve: async () => target,
        target: this.ctx.options.restoreTarget,
        lock: { expireMs: Math.round(this.ctx.options.unackedMutexExpire * 1000), waitMs: LOCK_WAIT_MS },
        wallClock: this.ctx.wallClock,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      if (result === 'busy') throw new OperationalError(`restore: ${scoped.unackedMutex} stayed held by another restorer for ${LOCK_WAIT_MS / 1000} s; try again`);
      if (result === undefined) continue;
      if (result.status === 'dead-lettered') deadLettered = true;
      else queues.push(...result.queues);
    }
    return { restored: queues.length > 0, queues, deadLettered };
  }
}
