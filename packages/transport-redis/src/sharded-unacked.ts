/**
 * The ack emulation of the sharded cluster layout: each queue records its deliveries in its own
 * `unacked` hash and index, in its own slot (keys.ts), so every ack, reject and restore must go
 * to the master of the delivery's queue with that queue's keys. The store remembers the queue of
 * each tag this channel popped (`remember`); the channel's acks name only tags. One publish routed
 * to two queues stores the same tag in both, so a tag remembers every queue it was popped from,
 * and an ack settles each of them.
 *
 * Acks, restores and records are sent once more when they meet `MOVED` (they did not run there;
 * ClusterNodePool.onSlot): otherwise a resharding would leave an acked message unacked until the
 * visibility timeout, and deliver it again.
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
import { ackTags, call, restoreByTag } from './scripts.js';
import { shardedUnsupported } from './sharded-refusals.js';

export interface ShardedUnackedContext {
  readonly pool: ClusterNodePool;
  readonly keys: RedisKeys;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds (Kombu's time.time()). */
  readonly wallClock: () => number;
}

export class ShardedUnackedStore implements UnackedStore, VisibilityTimeout, UnackedDeadLetters {
  readonly visibility: VisibilityTimeout = this;
  readonly deadLetters: UnackedDeadLetters = this;
  /** Delivery tag -> the queues it was popped from, for this channel's own deliveries. */
  private readonly owners = new Map<string, Set<string>>();

  constructor(private readonly ctx: ShardedUnackedContext) {}

  /** The pop recorded `tag` in `queue`'s own unacked keys. */
  remember(tag: string, queue: string): void {
    const queues = this.owners.get(tag);
    if (queues) queues.add(queue);
    else this.owners.set(tag, new Set([queue]));
  }

  /** The queue a delivery of this channel came from (undefined for a tag it never popped). */
  queueOf(tag: string): string | undefined {
    const queues = this.owners.get(tag);
    return queues === undefined ? undefined : [...queues][0];
  }

  /** Forgets that `tag` was popped from `queue` (its record there is settled). */
  private forget(tag: string, queue: string): void {
    const queues = this.owners.get(tag);
    if (queues === undefined) return;
    queues.delete(queue);
    if (queues.size === 0) this.owners.delete(tag);
  }

  /** Runs `send` on the master of `queue`'s slot, once more after a `MOVED`. */
  private onQueue<T>(queue: string, send: (client: Redis) => Promise<T>): Promise<T> {
    return this.ctx.pool.onSlot(this.ctx.keys.queueSlot(queue), send);
  }

  /**
   * Records a delivery the pop did not record (popped for a noAck consumer, delivered to an
   * ack-mode one) in `queue`'s own keys: Kombu's `[envelope, exchange, routing_key]` value and
   * its index entry written by one script, so a crash or a lost connection cannot leave one
   * without the other. Without its
   * queue a record would land in no queue's keys, so that is refused (nothing in this layout
   * records without one).
   */
  async record(tag: string, envelopeJson: string, exchange: string, routingKey: string, queue?: string): Promise<void> {
    if (queue === undefined) throw shardedUnsupported('recording a delivery without the queue it came from');
    const own = this.ctx.keys.unackedKeys(queue);
    const value = `[${envelopeJson}, ${JSON.stringify(exchange)}, ${JSON.stringify(routingKey)}]`;
    const score = this.ctx.wallClock().toFixed(6);
    await this.onQueue(queue, (client) => call(client, 'record', [own.unacked, own.unackedIndex, score, tag, value]));
    this.remember(tag, queue);
  }

  /** One ack script per queue, on that queue's master; tags this channel never popped are left to the restore sweep. */
  async ack(tags: readonly string[]): Promise<void> {
    const perQueue = new Map<string, string[]>();
    for (const tag of tags) {
      for (const queue of this.owners.get(tag) ?? []) {
        const list = perQueue.get(queue);
        if (list) list.push(tag);
        else perQueue.set(queue, [tag]);
      }
    }
    await Promise.all(
      [...perQueue].map(async ([queue, queueTags]) => {
        const own = this.ctx.keys.unackedKeys(queue);
        await this.onQueue(queue, (client) => ackTags(client, own.unacked, own.unackedIndex, queueTags));
        for (const tag of queueTags) this.forget(tag, queue);
      }),
    );
  }

  /**
   * Kombu `restore_by_tag` on the queue's own keys: back to the queue it was popped from (each of
   * them, for a tag popped from more than one).
   */
  async restore(tag: string, options: RestoreOptions, _resolveQueues: RouteResolver): Promise<RestoreOutcome> {
    const restored: string[] = [];
    for (const queue of [...(this.owners.get(tag) ?? [])]) {
      if (await this.restoreFrom(tag, queue, options)) restored.push(queue);
    }
    return restored.length > 0 ? { status: 'restored', deliveryTag: tag, queues: restored } : { status: 'missing', deliveryTag: tag };
  }

  /** Restores `tag`'s record in `queue`'s keys to that queue; false when there is none. */
  private async restoreFrom(tag: string, queue: string, options: RestoreOptions): Promise<boolean> {
    const { keys } = this.ctx;
    const own = keys.unackedKeys(queue);
    for (let attempt = 0; attempt < 5; attempt++) {
      const raw = await this.onQueue(queue, (client) => client.hget(own.unacked, tag));
      if (raw === null) {
        this.forget(tag, queue);
        return false;
      }
      const entry = parseUnackedEntry(raw);
      const envelope = entry ? markRedeliveredObject(entry.envelope) : raw;
      const priority = entry ? clampPriority((entry.envelope.properties as Record<string, unknown> | undefined)?.priority) : 0;
      const target = this.ctx.options.restoreTarget === 'priority' ? keys.queueKeyForPriority(queue, priority) : keys.queueKey(queue);
      const result = await this.onQueue(queue, (client) =>
        restoreByTag(client, { ...own, targets: [target] }, { tag, expected: raw, envelope, leftmost: options.leftmost }),
      );
      if (result === 0 || result === 1) this.forget(tag, queue);
      if (result === 0) return false;
      if (result === 1) return true;
    }
    throw new ChannelError(`unacked entry ${tag} kept changing during restore; it stays unacked until the next sweep`);
  }

  async extend(tag: string, seconds: number): Promise<void> {
    const score = this.ctx.wallClock() + seconds - this.ctx.options.visibilityTimeout;
    await this.scoreEvery(tag, score);
  }

  async holdUntil(tag: string, epochSeconds: number): Promise<void> {
    await this.scoreEvery(tag, epochSeconds);
  }

  /** Raises `tag`'s deadline in every queue it was popped from (ZADD XX GT: never shortens one). */
  private async scoreEvery(tag: string, score: number): Promise<void> {
    await Promise.all(
      [...(this.owners.get(tag) ?? [])].map((queue) =>
        this.onQueue(queue, (client) => client.zadd(this.ctx.keys.unackedKeys(queue).unackedIndex, 'XX', 'GT', score.toFixed(6), tag)),
      ),
    );
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
    // The queue the delivery came from when this channel popped the tag there, else the first it remembers.
    const remembered = this.owners.get(tag);
    const owner = queue !== undefined && remembered?.has(queue) ? queue : (this.queueOf(tag) ?? queue);
    if (owner === undefined) return undefined;
    const outcome = await this.onQueue(owner, (client) =>
      deadLetterUnackedEntry(client, this.ctx.keys.scopedToQueue(owner), { tag, queue: owner, reason, now: this.ctx.wallClock() }),
    );
    this.forget(tag, owner);
    return outcome;
  }
}
