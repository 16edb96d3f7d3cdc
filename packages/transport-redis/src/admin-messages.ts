/**
 * The Redis admin hooks that read and change waiting messages, unacked entries and dead letters
 * one at a time (the dashboard's operations). Each change is one atomic command or script, so it
 * is safe while Kombu, Celery and kelp consumers pop from the same lists:
 * - a page of waiting messages is one LRANGE (BRPOP consumes from the tail, so "oldest" counts
 *   from -1), never a pop;
 * - deleting one is LREM of its exact bytes; moving is move-waiting-2.lua (tail-checked);
 * - purge is LLEN + DEL of every priority sub-list in one MULTI, as Kombu's `_purge` does;
 * - restoring one takes `unacked_mutex` like a visibility restore (restore-batches.ts).
 */
import { Buffer } from 'node:buffer';
import { OperationalError, type StoredBytes } from '@kelp/core';
import type { AdminStorage, RestoredMessage, UnackedRecord } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { RedisAdminContext } from './admin-context.js';
import { restoreOne } from './restore-batches.js';
import { call, defineScripts } from './scripts.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Stored bytes as text when they are UTF-8, else base64 (what the admin types carry). */
export function storedBytes(bytes: Buffer): StoredBytes {
  try {
    return { raw: strictUtf8.decode(bytes), rawEncoding: 'utf8' };
  } catch {
    return { raw: bytes.toString('base64'), rawEncoding: 'base64' };
  }
}

const toBuffer = (message: StoredBytes): Buffer => Buffer.from(message.raw, message.rawEncoding === 'base64' ? 'base64' : 'utf8');

/** `[envelope, exchange, routing_key]` read leniently: a broken record is still listed. */
export function unackedRecord(tag: string, value: Buffer | null | undefined, since: number | undefined): UnackedRecord {
  let entry: unknown;
  try {
    entry = value ? JSON.parse(value.toString('utf8')) : undefined;
  } catch {
    entry = undefined;
  }
  if (!Array.isArray(entry) || typeof entry[0] !== 'object' || entry[0] === null) {
    return { tag, envelope: value ? storedBytes(value) : undefined, exchange: '', routingKey: '', since };
  }
  return {
    tag,
    envelope: { raw: JSON.stringify(entry[0]), rawEncoding: 'utf8' },
    exchange: typeof entry[1] === 'string' ? entry[1] : '',
    routingKey: typeof entry[2] === 'string' ? entry[2] : '',
    since,
  };
}

/** How long restoring one message waits for a busy unacked_mutex. */
const LOCK_WAIT_MS = 30_000;

type MessageHooks = Pick<
  AdminStorage<Buffer>,
  'removeDeadLetter' | 'stepLength' | 'waitingRange' | 'removeWaiting' | 'moveWaiting' | 'purgeQueue' | 'unackedRange' | 'restoreTag'
>;

export function redisMessageHooks(ctx: RedisAdminContext): MessageHooks {
  const { keys } = ctx;
  const scripted = async (): Promise<Redis> => {
    const client = await ctx.client();
    defineScripts(client);
    return client;
  };
  return {
    async removeDeadLetter(queue, record) {
      return (await (await ctx.client()).lrem(keys.deadLetterKey(queue), -1, record)) === 1;
    },

    stepLength: async (queue, step) => (await ctx.client()).llen(keys.queueKey(queue, step)),

    async waitingRange(queue, step, { order, offset, count }) {
      if (count <= 0) return [];
      const key = keys.queueKey(queue, step);
      const client = await ctx.client();
      // LPUSHed and consumed from the tail: the oldest (next to be consumed) is at -1.
      if (order === 'newest') return (await client.lrangeBuffer(key, offset, offset + count - 1)).map(storedBytes);
      return (await client.lrangeBuffer(key, -(offset + count), -(offset + 1))).reverse().map(storedBytes);
    },

    async removeWaiting(queue, step, message) {
      return (await (await ctx.client()).lrem(keys.queueKey(queue, step), -1, toBuffer(message))) === 1;
    },

    async moveWaiting(from, to, step, messages) {
      const args = messages.flatMap(({ stored, rewritten }) => [toBuffer(stored), toBuffer(rewritten)]);
      return Number(await call(await scripted(), 'moveWaiting', [keys.queueKey(from, step), keys.queueKey(to, step), ...args]));
    },

    async purgeQueue(queue) {
      const multi = (await ctx.client()).multi();
      // The lists and the delayed set (countdown / eta), as the channel's purge: (count, DEL) pairs.
      for (const key of keys.queueKeys(queue)) multi.llen(key).del(key);
      multi.zcard(keys.delayedKey(queue)).del(keys.delayedKey(queue));
      multi.zrem(keys.delayedIndex, queue);
      const replies = ((await multi.exec()) ?? []).slice(0, -1);
      return replies.filter((_, i) => i % 2 === 0).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
    },

    async unackedRange(offset, count) {
      const client = await ctx.client();
      const [flat, total] = await Promise.all([client.zrange(keys.unackedIndex, offset, offset + count - 1, 'WITHSCORES'), client.hlen(keys.unacked)]);
      const tags: string[] = [];
      const scores: number[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        tags.push(flat[i] as string);
        scores.push(Number(flat[i + 1]));
      }
      const values = tags.length > 0 ? await client.hmgetBuffer(keys.unacked, ...tags) : [];
      const records: UnackedRecord[] = [];
      tags.forEach((tag, i) => {
        // Acked between the two reads: nothing to list.
        if (values[i]) records.push(unackedRecord(tag, values[i], scores[i]));
      });
      return { total, records };
    },

    async restoreTag(tag, route, signal): Promise<RestoredMessage | undefined> {
      const result = await restoreOne(await scripted(), keys, tag, {
        resolve: route,
        target: ctx.options.restoreTarget,
        lock: { expireMs: Math.round(ctx.options.unackedMutexExpire * 1000), waitMs: LOCK_WAIT_MS },
        wallClock: ctx.wallClock,
        ...(signal === undefined ? {} : { signal }),
      });
      if (result === 'busy') throw new OperationalError(`restore: ${keys.unackedMutex} stayed held by another restorer for ${LOCK_WAIT_MS / 1000} s; try again`);
      return result && { status: result.status, queues: result.queues };
    },
  };
}
