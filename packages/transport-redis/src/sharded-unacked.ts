/**
 * The ack emulation of the sharded cluster layout: each queue records its deliveries in its own
 * `unacked` hash and index, in its own slot (keys.ts), so every ack, reject and restore must go
 * to the master of the delivery's queue with that queue's keys. The store remembers the queue of
 * each tag this channel popped (`remember`); the channel's acks name only tags.
 *
 * A requeue or restore puts the message back on the queue it was popped from, not through its
 * exchange again: a script on the queue's node can reach no other queue's keys, and re-routing
 * would copy it to every other queue bound to the exchange (docs/redis-cluster.md#sharded-layout).
 */
import { ChannelError } from '@kelp/core';
import {
  clampPriority,
  type DeadLetterOutcome,
  type RestoreOptions,
  type RestoreOutcome,
  type RouteResolver,
  type UnackedDeadLetters,
  type UnackedStore,
  type VisibilityTimeout,
} from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { ClusterNodePool } from './cluster-node-pool.js';
import { deadLetterUnackedEntry } from './dead-letters.js';
import type { RedisKeys } from './keys.js';
import type { RedisTransportOptions } from './options.js';
import { markRedeliveredObject, parseUnackedEntry } from './redis-unacked.js';
import { restoreEveryShard } from './sharded-restore.js';
import { ackTags, restoreByTag } from './scripts.js';
import { shardedUnsupported } from './sharded-refusals.js';

export interface ShardedUnackedContext {
  readonly pool: ClusterNodePool;
  readonly keys: RedisKeys;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds (Kombu's time.time()). */
  readonly wallClock: () => number;
  /** The queue's command connection; a MOVED reply is learned by the pool before it rejects. */
  clientOf(queue: string): Promise<Redis>;
}

export class ShardedUnackedStore implements UnackedStore, VisibilityTimeout, UnackedDeadLetters {
  readonly visibility: VisibilityTimeout = this;
  readonly deadLetters: UnackedDeadLetters = this;
  /** Delivery tag -> the queue it was popped from, for this channel's own deliveries. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly ctx: ShardedUnackedContext) {}

  /** The pop recorded `tag` in `queue`'s own unacked keys. */
  remember(tag: string, queue: string): void {
    this.owners.set(tag, queue);
  }

  /** The queue a delivery of this channel came from (undefined for a tag it never popped). */
  queueOf(tag: string): string | undefined {
    return this.owners.get(tag);
  }

  /**
   * Only the pop writes records in this layout (fanout messages are stored in their queues and
   * popped like any other): a record without its queue would land in no queue's keys.
   */
  record(): Promise<void> {
    return Promise.reject(shardedUnsupported('recording a delivery that was not popped from its queue'));
  }

  /** One ack script per queue, on that queue's master; tags this channel never popped are left to the restore sweep. */
  async ack(tags: readonly string[]): Promise<void> {
    const perQueue = new Map<string, string[]>();
    for (const tag of tags) {
      const queue = this.owners.get(tag);
      if (queue === undefined) continue;
      const list = perQueue.get(queue);
      if (list) list.push(tag);
      else perQueue.set(queue, [tag]);
    }
    await Promise.all(
      [...perQueue].map(async ([queue, queueTags]) => {
        const own = this.ctx.keys.unackedKeys(queue);
        await ackTags(await this.ctx.clientOf(queue), own.unacked, own.unackedIndex, queueTags);
        for (const tag of queueTags) this.owners.delete(tag);
      }),
    );
  }

  /** Kombu `restore_by_tag` on the queue's own keys: back to the queue it was popped from. */
  async restore(tag: string, options: RestoreOptions, _resolveQueues: RouteResolver): Promise<RestoreOutcome> {
    const queue = this.owners.get(tag);
    if (queue === undefined) return { status: 'missing', deliveryTag: tag };
    const { keys } = this.ctx;
    const own = keys.unackedKeys(queue);
    const client = await this.ctx.clientOf(queue);
    for (let attempt = 0; attempt < 5; attempt++) {
      const raw = await client.hget(own.unacked, tag);
      if (raw === null) {
        this.owners.delete(tag);
        return { status: 'missing', deliveryTag: tag };
      }
      const entry = parseUnackedEntry(raw);
      const envelope = entry ? markRedeliveredObject(entry.envelope) : raw;
      const priority = entry ? clampPriority((entry.envelope.properties as Record<string, unknown> | undefined)?.priority) : 0;
      const target = this.ctx.options.restoreTarget === 'priority' ? keys.queueKeyForPriority(queue, priority) : keys.queueKey(queue);
      const result = await restoreByTag(client, { ...own, targets: [target] }, { tag, expected: raw, envelope, leftmost: options.leftmost });
      if (result === 0 || result === 1) this.owners.delete(tag);
      if (result === 0) return { status: 'missing', deliveryTag: tag };
      if (result === 1) return { status: 'restored', deliveryTag: tag, queues: [queue] };
    }
    throw new ChannelError(`unacked entry ${tag} kept changing during restore; it stays unacked until the next sweep`);
  }

  async extend(tag: string, seconds: number): Promise<void> {
    const queue = this.owners.get(tag);
    if (queue === undefined) return;
    const score = this.ctx.wallClock() + seconds - this.ctx.options.visibilityTimeout;
    await (await this.ctx.clientOf(queue)).zadd(this.ctx.keys.unackedKeys(queue).unackedIndex, 'XX', 'GT', score.toFixed(6), tag);
  }

  async holdUntil(tag: string, epochSeconds: number): Promise<void> {
    const queue = this.owners.get(tag);
    if (queue === undefined) return;
    await (await this.ctx.clientOf(queue)).zadd(this.ctx.keys.unackedKeys(queue).unackedIndex, 'XX', 'GT', epochSeconds.toFixed(6), tag);
  }

  /** The visibility sweep over every queue on every master (sharded-restore.ts). */
  async restoreExpired(_resolveQueues: RouteResolver, signal?: AbortSignal): Promise<RestoreOutcome[]> {
    const { options, pool, keys, wallClock } = this.ctx;
    const { items } = await restoreEveryShard(pool, keys, {
      ceiling: wallClock() - options.visibilityTimeout,
      ...(options.unackedRestoreLimit === undefined ? {} : { limit: options.unackedRestoreLimit }),
      target: options.restoreTarget,
      lock: { expireMs: Math.round(options.unackedMutexExpire * 1000), waitMs: 250 },
      wallClock,
      ...(signal === undefined ? {} : { signal }),
    });
    return items.map(
      (item): RestoreOutcome =>
        item.status === 'restored'
          ? { status: 'restored', deliveryTag: item.tag, queues: item.queues }
          : { status: 'dead-lettered', deliveryTag: item.tag, queue: item.queues[0] ?? '', reason: item.reason ?? 'dead-lettered on restore' },
    );
  }

  /** Moves the record to its queue's dead-letter list, in the queue's slot, in one script. */
  async moveToDeadLetters(tag: string, queue: string | undefined, reason: string): Promise<DeadLetterOutcome | undefined> {
    const owner = this.owners.get(tag) ?? queue;
    if (owner === undefined) return undefined;
    const outcome = await deadLetterUnackedEntry(await this.ctx.clientOf(owner), this.ctx.keys.scopedToQueue(owner), {
      tag,
      queue: owner,
      reason,
      now: this.ctx.wallClock(),
    });
    this.owners.delete(tag);
    return outcome;
  }
}
