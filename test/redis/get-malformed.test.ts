/**
 * basicGet past malformed entries (conformance finding 2): the pop script dead-letters a bad head
 * entry and returns nothing for it; get() must pop again instead of reporting an empty queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, bodyOf, message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

describe('basicGet with malformed entries in front of a good one', () => {
  it('dead-letters both bad entries and returns the good message behind them', async () => {
    const { channel } = await fx.newTransport();
    await fx.redis.lpush('gm', 'not json at all', '[1, 2, 3]');
    await channel.basicPublish(message({ n: 1 }), '', 'gm');
    const delivery = await channel.basicGet('gm');
    expect(delivery && bodyOf(delivery)).toEqual({ n: 1 });
    const dead = (await fx.redis.lrange(`gm${SEP}dead`, 0, -1)).map((r) => JSON.parse(r) as { payload: string });
    expect(dead.map((r) => r.payload).sort()).toEqual(['[1, 2, 3]', 'not json at all']);
  });

  it('reports empty only once the lists are empty', async () => {
    const { channel } = await fx.newTransport();
    await fx.redis.lpush('gm2', 'bad-1', 'bad-2', 'bad-3');
    expect(await channel.basicGet('gm2')).toBeUndefined();
    expect([await fx.redis.llen('gm2'), await fx.redis.llen(`gm2${SEP}dead`)]).toEqual([0, 3]);
  });
});
