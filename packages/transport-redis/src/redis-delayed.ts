/**
 * `RedisDelayed`: delayed delivery on Redis (docs/wire-format.md#delayed-delivery). A delayed
 * publish stores `<step>|<envelope>` in `_kelp.delayed.<q>` of every queue it was routed to,
 * scored by its due time, and lowers the queue's score in `_kelp.delayed_index` (delay-n.lua);
 * the mover's step (move-due-0.lua) pushes due messages to the back of their queue's priority
 * sub-list under the queue's arguments. Both are single scripts, so no crash can lose or
 * duplicate a message between the sets and the lists.
 */
import type { DelayedDelivery } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import { type Arg, call } from './scripts.js';

export class RedisDelayed implements DelayedDelivery {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** The broker URL without its password, for error messages. */
    private readonly redactedUrl: string,
  ) {}

  async putDelayed(queues: readonly string[], envelopeJson: string, priority: number, dueAtMs: number): Promise<void> {
    if (queues.length === 0) return;
    const { keys } = this;
    const sets = queues.map((queue) => keys.delayedKey(queue));
    const argumentHashes = queues.map((queue) => keys.queueArgumentsKey(queue));
    try {
      await call(this.redis, 'delay', [
        sets.length * 2 + 1,
        keys.delayedIndex,
        ...sets,
        ...argumentHashes,
        String(Math.trunc(dueAtMs)),
        keys.delayedMember(envelopeJson, priority),
        ...queues,
      ]);
    } catch (error) {
      throw wrapRedisError(error, this.redactedUrl, 'delayed publish');
    }
  }

  async moveDue(nowMs: number, max: number): Promise<{ moved: number; nextDueAt: number | undefined }> {
    const { keys } = this;
    let reply: unknown;
    try {
      reply = await call(this.redis, 'moveDue', moveDueArgs(keys, keys.delayedIndex, keys.delayedKey(''), nowMs, max));
    } catch (error) {
      throw wrapRedisError(error, this.redactedUrl, 'delayed move');
    }
    return parseMoveDueReply(reply);
  }

  /** How many delayed messages `queue` has and the earliest due time (epoch ms), for inspect. */
  async depth(queue: string): Promise<{ delayed: number; nextDueAt: number | undefined }> {
    const key = this.keys.delayedKey(queue);
    const [count, head] = await Promise.all([this.redis.zcard(key), this.redis.zrange(key, 0, 0, 'WITHSCORES')]);
    return { delayed: count, nextDueAt: head[1] === undefined ? undefined : Number(head[1]) };
  }
}

/**
 * The move-due script's arguments (move-due-0.lua): `index` and the delayed sets' prefix
 * `setPrefix` (the script appends the name the index gives); `sharded` tells it to count drops
 * in each queue's own hash.
 */
export function moveDueArgs(keys: RedisKeys, index: string, setPrefix: string, nowMs: number, max: number, sharded = false): Arg[] {
  const policy = keys.queuePolicyNames();
  const args: Arg[] = [
    keys.prefix,
    keys.sep,
    index,
    setPrefix,
    String(Math.trunc(nowMs)),
    max,
    policy.argumentsPrefix,
    policy.deadLetterSuffix,
    policy.droppedPrefix,
    policy.stepSuffixes,
  ];
  if (sharded) args.push('1');
  return args;
}

/** How many the move-due script moved, and the earliest due time still waiting (epoch ms). */
export function parseMoveDueReply(reply: unknown): { moved: number; nextDueAt: number | undefined } {
  const [moved, next] = Array.isArray(reply) ? (reply as unknown[]) : [];
  const nextDueAt = next === '' || next === undefined || next === null ? undefined : Number(next);
  return { moved: Number(moved ?? 0), nextDueAt: Number.isFinite(nextDueAt) ? nextDueAt : undefined };
}
