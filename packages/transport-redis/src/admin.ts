/**
 * The admin hooks of a Redis db (`transport.admin` is `VirtualAdmin` over these). Everything is
 * read from the keys themselves, so it works on what Python Kombu or Celery wrote: exchanges from
 * the `_kombu.binding.*` sets (SCAN), queues from those bindings and from the lists, the
 * `unacked` hash and the dead-letter lists. Redis stores no exchange types
 * (docs/wire-format.md#exchange-state), so the admin routes by the binding rows alone (see
 * `AdminRouter`).
 */
import type { Buffer } from 'node:buffer';
import { OperationalError, throwIfAborted } from '@kelp/core';
import type { AdminStorage, BindingRow, RestoredMessage } from '@kelp/virtual';
import { DELAYED_MOVE_BATCH, EXPIRED_REASON, MAXLEN_REASON } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { RedisAdminContext } from './admin-context.js';
import { redisMessageHooks } from './admin-messages.js';
import { readDeadLetterRecord } from './dead-letters.js';
import { DEAD_LETTER_SUFFIX } from './keys.js';
import { RedisDelayed } from './redis-delayed.js';
import { restoreInBatches } from './restore-batches.js';
import { globEscape, scanKeys } from './scan-keys.js';

/** The reasons messages are dropped and counted for (RedisKeys.droppedKey). */
const DROP_REASONS = [EXPIRED_REASON, MAXLEN_REASON] as const;


/** How long `restore` waits for a busy unacked_mutex before each batch. */
const LOCK_WAIT_MS = 30_000;
const SCAN_COUNT = 1000;

/** Every field and value (or member and score) of a hash or zset, read with HSCAN / ZSCAN. */
async function scanPairs(scan: (cursor: string) => Promise<[string, string[]]>, signal?: AbortSignal): Promise<Map<string, string>> {
  const pairs = new Map<string, string>();
  let cursor = '0';
  do {
    throwIfAborted(signal);
    const [next, flat] = await scan(cursor);
    for (let i = 0; i + 1 < flat.length; i += 2) pairs.set(flat[i] as string, flat[i + 1] as string);
    cursor = next;
  } while (cursor !== '0');
  return pairs;
}

/** Exchange and routing key of an `[envelope, exchange, routing_key]` value; undefined when unreadable. */
function routeOfValue(value: string): { exchange: string; routingKey: string } | undefined {
  try {
    const entry: unknown = JSON.parse(value);
    if (!Array.isArray(entry)) return undefined;
    return { exchange: typeof entry[1] === 'string' ? entry[1] : '', routingKey: typeof entry[2] === 'string' ? entry[2] : '' };
  } catch {
    return undefined;
  }
}

export type { RedisAdminContext } from './admin-context.js';

/** The admin hooks on the db of `ctx.keys`; a dead letter's handle is its stored record. */
export function redisAdminStorage(ctx: RedisAdminContext): AdminStorage<Buffer> {
  const { keys } = ctx;

  const bindings = async (exchange: string): Promise<BindingRow[]> => {
    const client = await ctx.client();
    const rows: BindingRow[] = [];
    for (const member of await client.smembers(keys.bindingKey(exchange))) {
      const row = keys.parseBindingMember(member);
      if (row) rows.push(row);
    }
    return rows;
  };

  return {
    ...redisMessageHooks(ctx),
    visibilityTimeout: ctx.options.visibilityTimeout,
    now: ctx.wallClock,
    bindings,
    declaredType: () => undefined,

    async exchangeNames(signal) {
      const prefix = keys.bindingKey('');
      const found = await scanKeys(await ctx.client(), `${globEscape(prefix)}*`, signal);
      return found.map((key) => key.slice(prefix.length));
    },

    // Queues fed through the default exchange have no binding: every list is a queue (or a
    // priority sub-list, or a dead-letter list). SCAN TYPE needs Redis >= 6; older servers
    // only show queues known from bindings and unacked entries.
    async queueNames(signal) {
      const client = await ctx.client();
      const deadSuffix = `${keys.sep}${DEAD_LETTER_SUFFIX}`;
      const lists = await scanKeys(client, `${globEscape(keys.prefix)}*`, signal, 'list').catch(() => [] as string[]);
      // A queue whose messages all expired may have no list left; its drop count names it.
      const droppedFrom = (await Promise.all(DROP_REASONS.map((reason) => client.hkeys(keys.droppedKey(reason))))).flat();
      // A queue whose messages are all still delayed has no list yet; the delayed index names it.
      const delayed = (await client.zrange(keys.delayedIndex, 0, -1)).map((queue) => keys.queueKey(queue));
      return [...lists, ...droppedFrom, ...delayed].map((key) => {
        const name = keys.stripPrefix(key);
        return name.endsWith(deadSuffix) ? name.slice(0, -deadSuffix.length) : keys.queueFromKey(key);
      });
    },

    async queueDepth(queue) {
      const pipeline = (await ctx.client()).pipeline();
      for (const step of keys.steps) pipeline.llen(keys.queueKey(queue, step));
      pipeline.llen(keys.deadLetterKey(queue));
      for (const reason of DROP_REASONS) pipeline.hget(keys.droppedKey(reason), keys.deadLetterKey(queue));
      pipeline.zcard(keys.delayedKey(queue));
      pipeline.zrange(keys.delayedKey(queue), 0, 0, 'WITHSCORES');
      const raw = (await pipeline.exec()) ?? [];
      const head = raw.pop()?.[1];
      const nextDueAt = Array.isArray(head) && head[1] !== undefined ? Number(head[1]) : undefined;
      const replies = raw.map(([, n]) => Number(n ?? 0));
      const dropped: Record<string, number> = {};
      DROP_REASONS.forEach((reason, i) => {
        const count = replies[keys.steps.length + 1 + i] ?? 0;
        if (count > 0) dropped[reason] = count;
      });
      return {
        steps: new Map(keys.steps.map((step, i) => [step, replies[i] ?? 0])),
        deadLetters: replies[keys.steps.length] ?? 0,
        dropped,
        delayed: replies[keys.steps.length + 1 + DROP_REASONS.length] ?? 0,
        ...(nextDueAt === undefined ? {} : { nextDueAt }),
      };
    },

    delayed: {
      async countDue(nowMs, signal) {
        const client = await ctx.client();
        let due = 0;
        for (const queue of await client.zrangebyscore(keys.delayedIndex, '-inf', nowMs)) {
          throwIfAborted(signal);
          due += await client.zcount(keys.delayedKey(queue), '-inf', nowMs);
        }
        return due;
      },
      async moveDue(nowMs, signal) {
        const delayed = new RedisDelayed(await ctx.client(), keys, ctx.redactedUrl);
        let total = 0;
        for (;;) {
          throwIfAborted(signal);
          const { moved } = await delayed.moveDue(nowMs, DELAYED_MOVE_BATCH);
          total += moved;
          if (moved < DELAYED_MOVE_BATCH) return total;
        }
      },
    },

    async unackedMessages(signal) {
      const client = await ctx.client();
      const scores = await scanPairs((cursor) => client.zscan(keys.unackedIndex, cursor, 'COUNT', SCAN_COUNT), signal);
      const values = await scanPairs((cursor) => client.hscan(keys.unacked, cursor, 'COUNT', SCAN_COUNT), signal);
      const messages = [];
      for (const [tag, value] of values) {
        const route = routeOfValue(value);
        const score = scores.get(tag);
        if (route) messages.push({ ...route, since: score === undefined ? undefined : Number(score) });
      }
      return messages;
    },

    unackedTotal: async () => (await ctx.client()).hlen(keys.unacked),

    async restoreExpired(request): Promise<RestoredMessage[]> {
      const { items, lockBusy } = await restoreInBatches(await ctx.client(), keys, {
        ceiling: request.ceiling,
        ...(request.queue === undefined ? {} : { queue: request.queue }),
        dryRun: request.dryRun,
        resolve: request.route,
        target: ctx.options.restoreTarget,
        lock: { expireMs: Math.round(ctx.options.unackedMutexExpire * 1000), waitMs: LOCK_WAIT_MS },
        wallClock: ctx.wallClock,
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
      if (lockBusy && items.length === 0) {
        throw new OperationalError(`restore: ${keys.unackedMutex} stayed held by another restorer for ${LOCK_WAIT_MS / 1000} s; try again`);
      }
      return items;
    },

    async deadLetters(queue, options) {
      throwIfAborted(options.signal);
      const limit = options.limit ?? Number.POSITIVE_INFINITY;
      // LPUSHed: the oldest records are at the tail.
      const start = Number.isFinite(limit) ? -Math.max(1, Math.floor(limit)) : 0;
      const records = await (await ctx.client()).lrangeBuffer(keys.deadLetterKey(queue), start, -1);
      return records.reverse().map((record) => ({ entry: readDeadLetterRecord(record, queue, keys), handle: record }));
    },

    async moveDeadLetter(queue, record, envelope) {
      const client = await ctx.client();
      const target = keys.queueKeyForPriority(queue, envelope.priority);
      const fn = (client as unknown as Record<string, (...a: (string | Buffer)[]) => Promise<unknown>>)['kelpMoveDeadLetter'];
      if (typeof fn !== 'function') throw new Error('Lua script moveDeadLetter is not defined on this client (call defineScripts first)');
      return Number(await fn.apply(client, [keys.deadLetterKey(queue), target, record, envelope.json])) === 1;
    },
  };
}
