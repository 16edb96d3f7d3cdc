/**
 * `RedisQueueExpiry`: `x-expires` on Redis (docs/wire-format.md#queue-expiry). A queue's keys carry
 * a Redis expiry that every use (a get, a consumer's periodic touch, a declaration) resets to the
 * queue's x-expires (touch-queues-0.lua), so Redis itself deletes an unused queue with its keys,
 * as Kombu HEAD does for the priority sub-lists. Whether a queue has x-expires is read from its
 * argument hash by the script; a queue found without one is not asked about again for a second,
 * so gets on ordinary queues cost no extra round trip.
 */
import { QUEUE_TOUCH_TICK_MS, queueTouchInterval, type QueueExpiry } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import { call, type Arg } from './scripts.js';

/**
 * Runs touch-queues-0.lua over `queues`; resolves with each queue's x-expires in ms, in their
 * order (0 or missing: none). One call on a single node; the sharded layout runs one per slot.
 */
export type TouchQueues = (queues: readonly string[]) => Promise<readonly unknown[]>;

/** The arguments of touch-queues-0.lua for `queues` (each named as its keys spell it). */
export function touchQueuesArgs(keys: RedisKeys, queues: readonly string[]): Arg[] {
  const names = keys.queuePolicyNames();
  return [keys.prefix, names.argumentsPrefix, keys.delayedPrefix, names.deadLetterSuffix, names.stepSuffixes, ...queues.map((queue) => keys.shardName(queue))];
}

/** The touch of a single node (redis://, single-slot cluster): every queue in one call. */
export function touchOnOneNode(redis: Redis, keys: RedisKeys): TouchQueues {
  return async (queues) => {
    const reply = await call(redis, 'touchQueues', touchQueuesArgs(keys, queues));
    return Array.isArray(reply) ? (reply as unknown[]) : [];
  };
}

/** How long a queue found without x-expires is not asked about again (ms). */
const NEGATIVE_CACHE_MS = 1000;

export class RedisQueueExpiry implements QueueExpiry {
  /** Queue -> until when (epoch ms) it is known to have no x-expires. */
  private readonly without = new Map<string, number>();
  /** Queue with x-expires -> from when (epoch ms) a consumer's periodic touch is due again. */
  private readonly periodicDue = new Map<string, number>();

  constructor(
    private readonly touchQueues: TouchQueues,
    /** The broker URL without its password, for error messages. */
    private readonly redactedUrl: string,
  ) {}

  async touch(queues: readonly string[], options: { periodic?: boolean } = {}): Promise<void> {
    const now = Date.now();
    const periodic = options.periodic === true;
    const asked = queues.filter((queue) => (this.without.get(queue) ?? 0) <= now && (!periodic || (this.periodicDue.get(queue) ?? 0) <= now));
    if (asked.length === 0) return;
    let expires: readonly unknown[];
    try {
      expires = await this.touchQueues(asked);
    } catch (error) {
      throw wrapRedisError(error, this.redactedUrl, 'queue touch');
    }
    if (this.without.size > 10_000) this.without.clear();
    if (this.periodicDue.size > 10_000) this.periodicDue.clear();
    asked.forEach((queue, i) => {
      const ms = Number(expires[i] ?? 0);
      if (ms > 0) {
        this.without.delete(queue);
        // `now` is before the touch ran, and the next is asked on the first tick from then on:
        // a tick early, so two touches are at most queueTouchInterval apart.
        this.periodicDue.set(queue, now + queueTouchInterval(ms) - QUEUE_TOUCH_TICK_MS);
      } else {
        this.without.set(queue, now + NEGATIVE_CACHE_MS);
        this.periodicDue.delete(queue);
      }
    });
  }

  /** A declaration changed the queue's arguments: ask again next time. */
  forget(queue: string): void {
    this.without.delete(queue);
    this.periodicDue.delete(queue);
  }
}
