/**
 * Delayed delivery on Redis at the key level (docs/wire-format.md#delayed-delivery): a delayed
 * publish writes `<step>|<envelope>` into `_kelp.delayed.<q>` scored by its due time and the queue
 * into `_kelp.delayed_index`; the mover's script moves due members to the back of their priority
 * sub-list in bounded batches, applying the queue's arguments, never twice.
 */
import type { DelayedDelivery } from '@kelp/virtual';
import { luaScripts } from '../../packages/transport-redis/src/lua-scripts.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

/** The channel's delayed storage, which its mover uses; a transport of its own, no hub run. */
async function mover(): Promise<{ delayed: DelayedDelivery; publish: (queue: string, id: string, deliverAt: number, priority?: number) => Promise<void> }> {
  const { channel } = await fx.newTransport();
  const delayed = channel.delayedDelivery;
  if (!delayed) throw new Error('the Redis channel has no delayed delivery');
  return {
    delayed,
    publish: async (queue, id, deliverAt, priority = 0) => {
      await channel.basicPublish(message({ id }, { messageId: id, priority }), '', queue, { deliverAt });
    },
  };
}

const idsIn = async (key: string): Promise<string[]> => (await fx.redis.lrange(key, 0, -1)).reverse().map((e) => JSON.parse(e).properties.message_id);

describe('a delayed publish', () => {
  it('stores <step>|<envelope> scored by its due time and indexes the queue by its earliest due time', async () => {
    const { publish } = await mover();
    const due = Date.now() + 60_000;
    await publish('dl.keys', 'late', due + 1000, 9);
    await publish('dl.keys', 'early', due, 0);
    const members = await fx.redis.zrange('_kelp.delayed.dl.keys', 0, -1, 'WITHSCORES');
    expect([members[0]?.slice(0, 2), members[1], members[2]?.slice(0, 2), members[3]]).toEqual(['0|', String(due), '9|', String(due + 1000)]);
    expect(JSON.parse((members[0] as string).slice(2)).properties.message_id).toBe('early');
    expect(await fx.redis.zscore('_kelp.delayed_index', 'dl.keys')).toBe(String(due));
    expect(await fx.redis.exists('dl.keys', `dl.keys${SEP}9`)).toBe(0);
    // A later message never raises the queue's next due time.
    await publish('dl.keys', 'later', due + 5000, 0);
    expect(await fx.redis.zscore('_kelp.delayed_index', 'dl.keys')).toBe(String(due));
  });

  it('runs on servers older than 6.2: no ZADD LT/GT in the delayed scripts (the README promises older servers)', () => {
    for (const script of [luaScripts.delay, luaScripts.moveDue]) expect(script.lua).not.toMatch(/"ZADD",[^)]*"(LT|GT)"/);
  });
});

// Due times lie a few seconds ahead (a time already past publishes at once); the tests call the
// mover's step with a `now` beyond them instead of waiting.
describe('the move-due script', () => {
  it('moves only due messages, to the back of their priority sub-list, and sets the index to the next due time', async () => {
    const { delayed, publish } = await mover();
    const now = Date.now() + 5000;
    await fx.redis.lpush('dl.move', JSON.stringify({ properties: { message_id: 'waiting' } }));
    await publish('dl.move', 'a', now + 50);
    await publish('dl.move', 'b9', now + 60, 9);
    await publish('dl.move', 'later', now + 60_000);
    const result = await delayed.moveDue(now + 100, 100);
    expect(result.moved).toBe(2);
    // The earliest due time over every queue of the db (an earlier test's queue may come first).
    expect(result.nextDueAt).toBeLessThanOrEqual(now + 60_000);
    expect(await idsIn('dl.move')).toEqual(['waiting', 'a']);
    expect(await idsIn(`dl.move${SEP}9`)).toEqual(['b9']);
    expect(await fx.redis.zcard('_kelp.delayed.dl.move')).toBe(1);
    expect(await fx.redis.zscore('_kelp.delayed_index', 'dl.move')).toBe(String(now + 60_000));
  });

  it('moves a bounded batch per call, earliest first, and clears the index when a queue has none left', async () => {
    const { delayed, publish } = await mover();
    const now = Date.now() + 5000;
    for (let n = 0; n < 25; n++) await publish('dl.batch', `m-${String(n).padStart(2, '0')}`, now + 25 - n);
    expect((await delayed.moveDue(now + 1000, 10)).moved).toBe(10);
    expect(await idsIn('dl.batch')).toEqual(Array.from({ length: 10 }, (_, i) => `m-${24 - i}`));
    expect((await delayed.moveDue(now + 1000, 10)).moved).toBe(10);
    const last = await delayed.moveDue(now + 1000, 10);
    expect(last.moved).toBe(5);
    expect(await fx.redis.zscore('_kelp.delayed_index', 'dl.batch')).toBeNull();
    expect(await fx.redis.exists('_kelp.delayed.dl.batch')).toBe(0);
  });

  it('never moves a message twice when several movers run at once', async () => {
    const movers = await Promise.all([mover(), mover(), mover()]);
    const now = Date.now() + 5000;
    for (let n = 0; n < 300; n++) await movers[0]?.publish('dl.race', `r-${n}`, now + (n % 7));
    let moved = 0;
    for (let round = 0; round < 20 && moved < 300; round++) {
      const results = await Promise.all(movers.map((m) => m.delayed.moveDue(now + 1000, 17)));
      moved += results.reduce((sum, r) => sum + r.moved, 0);
    }
    expect(moved).toBe(300);
    const ids = await idsIn('dl.race');
    expect(ids.length).toBe(300);
    expect(new Set(ids).size).toBe(300);
  });

  it('applies the queue arguments when it moves: reject-publish dead-letters with maxlen, x-message-ttl counts from the move', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('dl.limit', { arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish', 'x-dead-letter': true, 'x-message-ttl': 5000 } });
    const { delayed, publish } = await mover();
    const now = Date.now() + 5000;
    await publish('dl.limit', 'fits', now + 10);
    await publish('dl.limit', 'refused', now + 20);
    expect((await delayed.moveDue(now + 1000, 100)).moved).toBe(2);
    const stored = await fx.redis.lrange('dl.limit', 0, -1);
    expect(stored.map((e) => JSON.parse(e).properties.message_id)).toEqual(['fits']);
    expect(JSON.parse(stored[0] as string)['x-kelp-expires-at']).toBe(now + 1000 + 5000);
    const dead = (await fx.redis.lrange(`dl.limit${SEP}dead`, 0, -1)).map((r) => JSON.parse(r));
    expect(dead.map((r) => [r.reason, JSON.parse(r.payload).properties.message_id])).toEqual([['maxlen', 'refused']]);
  });

  it('dead-letters a member that is not in its <step>|<envelope> form instead of losing it', async () => {
    const { delayed } = await mover();
    const now = Date.now();
    await fx.redis.zadd('_kelp.delayed.dl.bad', now, 'garbage');
    await fx.redis.zadd('_kelp.delayed_index', now, 'dl.bad');
    expect((await delayed.moveDue(now + 1, 100)).moved).toBe(1);
    const dead = (await fx.redis.lrange(`dl.bad${SEP}dead`, 0, -1)).map((r) => JSON.parse(r));
    expect(dead.map((r) => [r.payload, r.reason])).toEqual([['garbage', 'delayed entry is not <step>|<envelope>']]);
  });
});

describe('x-expires on the keys', () => {
  it('gives every key of the queue its expiry on declare, and a list created by a later publish one too', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ id: 'before' }), '', 'qx.keys');
    await channel.queueDeclare('qx.keys', { arguments: { 'x-expires': 60_000 } });
    const listTtl = await fx.redis.pttl('qx.keys');
    expect(listTtl).toBeGreaterThan(55_000);
    expect(await fx.redis.pttl('_kelp.queue.qx.keys')).toBeGreaterThan(55_000);
    await channel.basicPublish(message({ id: 'p9' }, { priority: 9 }), '', 'qx.keys');
    await channel.basicPublish(message({ id: 'later' }), '', 'qx.keys', { deliverAt: Date.now() + 60_000 });
    expect(await fx.redis.pttl(`qx.keys${SEP}9`)).toBeGreaterThan(55_000);
    expect(await fx.redis.pttl('_kelp.delayed.qx.keys')).toBeGreaterThan(55_000);
  });

  it('resets the expiry on a get but not on a publish', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('qx.use', { arguments: { 'x-expires': 60_000 } });
    await channel.basicPublish(message({ id: 1 }), '', 'qx.use');
    await channel.basicPublish(message({ id: 2 }), '', 'qx.use');
    await fx.redis.pexpire('qx.use', 10_000);
    await channel.basicPublish(message({ id: 3 }), '', 'qx.use');
    expect(await fx.redis.pttl('qx.use')).toBeLessThanOrEqual(10_000);
    await channel.basicGet('qx.use', { noAck: true });
    expect(await fx.redis.pttl('qx.use')).toBeGreaterThan(55_000);
  });
});
