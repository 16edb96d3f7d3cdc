/**
 * `RedisUnackedStore`: Kombu's ack emulation in Redis (docs/wire-format.md#ack-emulation): the
 * `unacked` hash of `[envelope, exchange, routing_key]`, the `unacked_index` zset of delivery
 * times, and `unacked_mutex` for the visibility sweep, shared with Python Kombu: either side
 * restores what the other left.
 */
import {
  type BatchRequeue,
  type DeadLetterOutcome,
  type RestoreOptions,
  type RestoreOutcome,
  type RouteResolver,
  type UnackedDeadLetters,
  type UnackedStore,
  type VisibilityTimeout,
  clampPriority,
  markRedeliveredInPlace,
} from '@kelp/virtual';
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AckCoalescer, type AckLane } from './ack-coalescer.js';
import { deadLetterUnackedEntry } from './dead-letters.js';
import type { RedisKeys } from './keys.js';
import type { RedisTransportOptions } from './options.js';
import { RecordBatcher } from './record-batcher.js';
import { type PlannedItem, restoreInBatches, runBatch } from './restore-batches.js';
import { restoreByTag } from './scripts.js';

/** How often restore re-reads an entry that changed under it before giving up. */
const RESTORE_RETRIES = 5;

export interface RedisUnackedContext {
  readonly redis: Redis;
  readonly keys: RedisKeys;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds (Kombu's time.time()). */
  readonly wallClock: () => number;
  /** A batch of acks settled: a loop waiting on what the acks' callers do may re-check. */
  readonly acksSettled?: () => void;
}

export class RedisUnackedStore implements UnackedStore, VisibilityTimeout, UnackedDeadLetters, BatchRequeue {
  readonly visibility: VisibilityTimeout = this;
  readonly deadLetters: UnackedDeadLetters = this;
  readonly requeues: BatchRequeue = this;
  private acks: AckCoalescer | undefined;
  private ackLane: AckLane | undefined;
  private records: RecordBatcher | undefined;

  constructor(private readonly ctx: RedisUnackedContext) {}

  ack(tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return Promise.resolve();
    // One script call per tick for all acks of this channel; every caller gets that call's
    // promise directly (see AckCoalescer).
    if (!this.acks) {
      this.acks = new AckCoalescer(this.ctx.redis, this.ctx.keys.unacked, this.ctx.keys.unackedIndex, this.ctx.acksSettled);
      this.acks.shareWritesWith(this.ackLane);
    }
    return this.acks.ack(tags);
  }

  /** Lets acks ride the consuming channel's poll connection (see AckCoalescer); undefined stops it. */
  shareAckWrites(lane: AckLane | undefined): void {
    this.ackLane = lane;
    this.acks?.shareWritesWith(lane);
  }

  /**
   * Kombu's delivery record: MULTI ZADD unacked_index <now> <tag>; HSET unacked <tag> [env, ex, rk];
   * EXEC, one transaction for all records of a tick (fanout deliveries; see RecordBatcher).
   */
  record(tag: string, envelopeJson: string, exchange: string, routingKey: string): Promise<void> {
    const { redis, keys, wallClock } = this.ctx;
    this.records ??= new RecordBatcher(redis, keys.unacked, keys.unackedIndex, wallClock);
    return this.records.record(tag, `[${envelopeJson}, ${JSON.stringify(exchange)}, ${JSON.stringify(routingKey)}]`);
  }

  /** The deadline becomes now + seconds; never shortens one (ZADD XX GT). */
  async extend(tag: string, seconds: number): Promise<void> {
    const score = this.ctx.wallClock() + seconds - this.ctx.options.visibilityTimeout;
    await this.ctx.redis.zadd(this.ctx.keys.unackedIndex, 'XX', 'GT', score.toFixed(6), tag);
  }

  /** Celery ETA: the record is scored at the due time; never earlier than it is (ZADD XX GT). */
  async holdUntil(tag: string, epochSeconds: number): Promise<void> {
    await this.ctx.redis.zadd(this.ctx.keys.unackedIndex, 'XX', 'GT', epochSeconds.toFixed(6), tag);
  }

  /**
   * Rejects with requeue for all `tags` in one HMGET and one restore-batch call (no lock: these
   * are this consumer's own deliveries, not a sweep). Each record is checked by SHA1 as read, goes
   * to the back of its queues (LPUSH, as Kombu's `basic_reject(requeue=True)`), or without a
   * route comes back `unroutable` for the channel to dead-letter, as `restore` does. A record that
   * changed in between, or is not Kombu's shape, comes back undefined: `restore` it alone.
   */
  async requeueMany(tags: readonly string[], resolveQueues: RouteResolver): Promise<(RestoreOutcome | undefined)[]> {
    const { redis, keys, options } = this.ctx;
    const values = await redis.hmgetBuffer(keys.unacked, ...tags);
    const routes = new Map<string, Promise<readonly string[]>>();
    const outcomes: (RestoreOutcome | undefined)[] = [];
    const planned: PlannedItem[] = [];
    const slots: number[] = [];
    for (const [i, deliveryTag] of tags.entries()) {
      const value = values[i];
      if (value === null || value === undefined) {
        outcomes.push({ status: 'missing', deliveryTag });
        continue;
      }
      const entry = parseUnackedEntry(value.toString('utf8'));
      if (!entry) {
        outcomes.push(undefined);
        continue;
      }
      const { exchange, routingKey } = entry;
      const envelope = markRedeliveredObject(entry.envelope);
      const routeKey = `${exchange}\0${routingKey}`;
      let route = routes.get(routeKey);
      if (!route) {
        route = resolveQueues(exchange, routingKey, envelope);
        routes.set(routeKey, route);
      }
      const queues = await route;
      const priority = clampPriority((entry.envelope.properties as Record<string, unknown> | undefined)?.priority);
      const targets = queues.map((q) => (options.restoreTarget === 'priority' ? keys.queueKeyForPriority(q, priority) : keys.queueKey(q)));
      slots.push(outcomes.length);
      outcomes.push(queues.length > 0 ? { status: 'restored', deliveryTag, queues } : { status: 'unroutable', deliveryTag, envelope, exchange, routingKey });
      const sha = createHash('sha1').update(value).digest('hex');
      planned.push({ tag: deliveryTag, sha, value: envelope, push: 'LPUSH', keys: targets, status: 'restored', queues });
    }
    if (planned.length > 0) {
      const statuses = await runBatch(redis, keys, '', planned);
      if (statuses === 'lost') throw new Error('restore-batch refused a call that takes no lock');
      for (const [j, slot] of slots.entries()) {
        const status = statuses[j];
        if (status === 0) outcomes[slot] = { status: 'missing', deliveryTag: tags[slot] as string };
        else if (status !== 1) outcomes[slot] = undefined;
      }
    }
    return outcomes;
  }

  /**
   * Kombu `restore_by_tag` as read + compare-and-swap: HGET, mark redelivered, resolve the target
   * queues in JS (routing needs this process's exchange types), then the Lua pushes only if the
   * entry is still exactly what was read (see restore-by-tag-n.lua).
   */
  async restore(tag: string, options: RestoreOptions, resolveQueues: RouteResolver): Promise<RestoreOutcome> {
    const { redis, keys } = this.ctx;
    for (let attempt = 0; attempt < RESTORE_RETRIES; attempt++) {
      const raw = await redis.hget(keys.unacked, tag);
      if (raw === null) return { status: 'missing', deliveryTag: tag };
      const entry = parseUnackedEntry(raw);
      const envelope = entry ? markRedeliveredObject(entry.envelope) : raw;
      const exchange = entry?.exchange ?? '';
      const routingKey = entry?.routingKey ?? '';
      const queues = entry ? await resolveQueues(exchange, routingKey, envelope) : [];
      const priority = entry ? clampPriority((entry.envelope.properties as Record<string, unknown> | undefined)?.priority) : 0;
      // 'bare' is what Kombu 5.2.4 writes (docs/wire-format.md#restore: priority lost); 'priority'
      // is HEAD's.
      const targets = queues.map((q) => (this.ctx.options.restoreTarget === 'priority' ? keys.queueKeyForPriority(q, priority) : keys.queueKey(q)));
      const result = await restoreByTag(
        redis,
        { unacked: keys.unacked, unackedIndex: keys.unackedIndex, targets },
        { tag, expected: raw, envelope, leftmost: options.leftmost },
      );
      if (result === 0) return { status: 'missing', deliveryTag: tag };
      if (result === 1) {
        return queues.length > 0
          ? { status: 'restored', deliveryTag: tag, queues }
          : { status: 'unroutable', deliveryTag: tag, envelope, exchange, routingKey };
      }
    }
    throw new Error(`unacked entry ${tag} kept changing during restore; it stays unacked until the next sweep`);
  }

  /**
   * Kombu `restore_visible` (docs/wire-format.md#visibility-timeout) in bounded batches
   * (restore-batches.ts): each batch takes
   * `unacked_mutex` (SET NX PX), restores (RPUSH, head of queue) up to 200 entries older than the
   * visibility timeout, newest-expired first, and releases the lock. A lock another process (kelp
   * or Python) holds for more than 250 ms means it is sweeping: stop silently, as Kombu skips.
   * An entry with no route goes to a dead-letter list in the same step instead of being dropped.
   */
  async restoreExpired(resolveQueues: RouteResolver, signal?: AbortSignal): Promise<RestoreOutcome[]> {
    const { options, redis, keys, wallClock } = this.ctx;
    const { items } = await restoreInBatches(redis, keys, {
      ceiling: wallClock() - options.visibilityTimeout,
      ...(options.unackedRestoreLimit === undefined ? {} : { limit: options.unackedRestoreLimit }),
      resolve: resolveQueues,
      target: options.restoreTarget,
      // Batches hold the lock for ~ms, so a short wait beats skipping: a skipped sweep waits a
      // whole restore period (Kombu: ~100 s) before it looks again.
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

  /**
   * Moves the record to the dead-letter list with the envelope's original bytes: read the entry,
   * build the record, then swap in one Lua step if the entry is unchanged (retrying a few times
   * if it changed).
   */
  moveToDeadLetters(tag: string, queue: string | undefined, reason: string): Promise<DeadLetterOutcome | undefined> {
    return deadLetterUnackedEntry(this.ctx.redis, this.ctx.keys, { tag, queue, reason, now: this.ctx.wallClock() });
  }
}

interface UnackedEntry {
  envelope: Record<string, unknown>;
  exchange: string;
  routingKey: string;
}

/** Parses Kombu's `[envelope, exchange, routing_key]` hash value; undefined when malformed. */
export function parseUnackedEntry(raw: string): UnackedEntry | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (!Array.isArray(value) || typeof value[0] !== 'object' || value[0] === null) return undefined;
    return {
      envelope: value[0] as Record<string, unknown>,
      exchange: typeof value[1] === 'string' ? value[1] : '',
      routingKey: typeof value[2] === 'string' ? value[2] : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * docs/wire-format.md#redelivery-markers: headers.redelivered and delivery_info.redelivered set,
 * and kelp's redelivery count (`x-delivery-count`) incremented; everything else unchanged.
 */
export function markRedeliveredObject(envelope: Record<string, unknown>): string {
  const copy = structuredClone(envelope);
  markRedeliveredInPlace(copy);
  return JSON.stringify(copy);
}
