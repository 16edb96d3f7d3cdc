/**
 * `RedisQueueExpiry`: `x-expires` on Redis (docs/wire-format.md#queue-expiry). A queue's keys carry
 * a Redis expiry that every use (a get, a consumer's periodic touch, a declaration) resets to the
 * queue's x-expires (touch-queues-0.lua), so Redis itself deletes an unused queue with its keys,
 * as Kombu HEAD does for the priority sub-lists. Whether a queue has x-expires is read from its
 * argument hash by the script; a queue found without one is not asked about again for a second,
 * so gets on ordinary queues cost no extra round trip.
 */
import type { QueueExpiry } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import { call } from './scripts.js';

/** How long a queue found without x-expires is not asked about again (ms). */
const NEGATIVE_CACHE_MS = 1000;

export class RedisQueueExpiry implements QueueExpiry {
  /** Queue -> until when (epoch ms) it is known to have no x-expires. */
  private readonly without = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** The broker URL without its password, for error messages. */
    private readonly redactedUrl: string,
  ) {}

  async touch(queues: readonly string[]): Promise<void> {
    const now = Date.now();
    const asked = queues.filter((queue) => (this.without.get(queue) ?? 0) <= now);
    if (asked.length === 0) return;
    const { keys } = this;
    const names = keys.queuePolicyNames();
    let reply: unknown;
    try {
      reply = await call(this.redis, 'touchQueues', [keys.prefix, names.argumentsPrefix, keys.delayedKey(''), names.deadLetterSuffix, names.stepSuffixes, ...asked]);
    } catch (error) {
      throw wrapRedisError(error, this.redactedUrl, 'queue touch');
    }
    const expires = Array.isArray(reply) ? (reply as unknown[]) : [];
    if (this.without.size > 10_000) this.without.clear();
    asked.forEach((queue, i) => {
      if (Number(expires[i] ?? 0) > 0) this.without.delete(queue);
      else this.without.set(queue, now + NEGATIVE_CACHE_MS);
    });
  }

  /** A declaration changed the queue's arguments: ask again next time. */
  forget(queue: string): void {
    this.without.delete(queue);
  }
}
