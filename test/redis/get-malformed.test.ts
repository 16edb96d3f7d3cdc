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

  it('dead-letters bytes that are not valid UTF-8 and delivers valid non-ASCII text', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ n: 'Grüße ✓ 𝄞' }, {}, { note: 'héllo' }), '', 'gm3');
    const good = Buffer.from((await fx.redis.lindex('gm3', 0)) as string);
    const at = good.indexOf('h\u00e9llo') >= 0 ? good.indexOf('h\u00e9llo') : good.indexOf(Buffer.from('héllo'));
    const bad = Buffer.concat([good.subarray(0, at), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), good.subarray(at + 6)]);
    await fx.redis.rpush('gm3', bad);
    const delivery = await channel.basicGet('gm3');
    expect(delivery && [bodyOf(delivery), delivery.headers['note']]).toEqual([{ n: 'Grüße ✓ 𝄞' }, 'héllo']);
    const [record] = await fx.redis.lrange(`gm3${SEP}dead`, 0, -1);
    expect(record).toContain('payload is not valid UTF-8');
  });

  it('settles the unacked record of an envelope only the pop script could parse (NaN)', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ n: 1 }), '', 'gm4');
    const raw = ((await fx.redis.rpop('gm4')) as string).replace('"priority":0', '"priority":NaN');
    await fx.redis.lpush('gm4', raw);
    expect(await channel.basicGet('gm4')).toBeUndefined();
    const tag = (JSON.parse(raw.replace('NaN', '0')) as { properties: { delivery_tag: string } }).properties.delivery_tag;
    expect([await fx.redis.llen(`gm4${SEP}dead`), await fx.redis.hexists('unacked', tag), await fx.redis.zscore('unacked_index', tag)]).toEqual([1, 0, null]);
  });
});
