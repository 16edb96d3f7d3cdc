import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, bodyOf, collect, message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

/** Publishes `bodies` to `queue`, consumes `take` of them and returns the deliveries. */
async function consumeSome(queue: string, bodies: unknown[], take: number, options: Record<string, unknown> = {}) {
  const setup = await fx.newTransport(options);
  for (const body of bodies) await setup.channel.basicPublish(message(body), '', queue);
  await setup.channel.basicQos(take);
  const got: Delivery[] = [];
  await setup.channel.basicConsume(queue, { onDelivery: (d) => got.push(d) });
  await collect(setup.hub, got, take);
  return { ...setup, got };
}

const listBodies = async (key: string) =>
  (await fx.redis.lrange(key, 0, -1)).map((raw) => JSON.parse(Buffer.from(JSON.parse(raw).body, 'base64').toString()));

describe('reject and requeue', () => {
  it('requeue LPUSHes to the back of the FIFO, marked redelivered, same tag', async () => {
    const { channel, got } = await consumeSome('rq', [{ i: 0 }, { i: 1 }], 1);
    const tag = (got[0] as Delivery).deliveryTag;
    await channel.basicReject(tag, true);
    const raw = await fx.redis.lrange('rq', 0, -1);
    const requeued = JSON.parse(raw[0] as string);
    expect(await listBodies('rq')).toEqual([{ i: 0 }, { i: 1 }]);
    expect([requeued.headers.redelivered, requeued.properties.delivery_info.redelivered, requeued.properties.delivery_tag]).toEqual([true, true, tag]);
    expect(await fx.redis.hexists('unacked', tag)).toBe(0);
  });

  it('reject without requeue drops the message and its unacked record', async () => {
    const { channel, got } = await consumeSome('rj', [{ i: 0 }], 1);
    await channel.basicReject((got[0] as Delivery).deliveryTag, false);
    expect([await fx.redis.llen('rj'), await fx.redis.hexists('unacked', (got[0] as Delivery).deliveryTag)]).toEqual([0, 0]);
  });
});

describe('restores put messages back at the head (RPUSH)', () => {
  it('closing the channel restores unacked messages so they are consumed next', async () => {
    const { channel, got } = await consumeSome('cl', [{ i: 0 }, { i: 1 }, { i: 2 }], 2);
    expect(got.map((d) => bodyOf(d))).toEqual([{ i: 0 }, { i: 1 }]);
    await channel.close();
    // Tail (right end) is consumed next: i:0, then i:1, then the untouched i:2.
    expect((await listBodies('cl')).reverse()).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect(await fx.redis.hlen('unacked')).toBe(0);
  });

  it("restores a priority-9 message to the bare list by default (Kombu 5.2.4's target)", async () => {
    const { channel, hub } = await fx.newTransport();
    await channel.basicPublish(message({ p: 9 }, { priority: 9 }), '', 'bare');
    const got: Delivery[] = [];
    await channel.basicConsume('bare', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    await channel.close();
    expect([await fx.redis.llen('bare'), await fx.redis.llen(`bare${SEP}9`)]).toEqual([1, 0]);
  });

  it("restores to the priority sub-list with restoreTarget 'priority' (Kombu HEAD)", async () => {
    const { channel, hub } = await fx.newTransport({ restoreTarget: 'priority' });
    await channel.basicPublish(message({ p: 9 }, { priority: 9 }), '', 'subl');
    const got: Delivery[] = [];
    await channel.basicConsume('subl', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    await channel.close();
    expect([await fx.redis.llen('subl'), await fx.redis.llen(`subl${SEP}9`)]).toEqual([0, 1]);
  });
});

describe('restoreVisible', () => {
  it('restores entries older than the visibility timeout and releases the mutex', async () => {
    const { channel } = await fx.newTransport({ visibilityTimeout: 1 });
    const env = JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: 'vis-1', delivery_info: { exchange: '', routing_key: 'visq' }, body_encoding: 'base64' } });
    await fx.redis.hset('unacked', 'vis-1', `[${env}, "", "visq"]`);
    await fx.redis.zadd('unacked_index', Date.now() / 1000 - 10, 'vis-1');
    expect(await channel.restoreVisible()).toBe(1);
    const restored = JSON.parse((await fx.redis.lindex('visq', 0)) as string);
    expect([restored.headers.redelivered, await fx.redis.exists('unacked_mutex'), await fx.redis.hexists('unacked', 'vis-1')]).toEqual([true, 0, 0]);
  });

  it('leaves fresh entries alone', async () => {
    const { channel } = await fx.newTransport({ visibilityTimeout: 3600 });
    await fx.redis.hset('unacked', 'fresh-1', '[{"properties": {}}, "", "freshq"]');
    await fx.redis.zadd('unacked_index', Date.now() / 1000, 'fresh-1');
    expect([await channel.restoreVisible(), await fx.redis.llen('freshq')]).toEqual([0, 0]);
    await fx.redis.hdel('unacked', 'fresh-1');
    await fx.redis.zrem('unacked_index', 'fresh-1');
  });

  it('skips silently while another process holds unacked_mutex, and keeps its lock', async () => {
    const { channel } = await fx.newTransport({ visibilityTimeout: 1 });
    const env = JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: 'held-1', delivery_info: { exchange: '', routing_key: 'heldq' } } });
    await fx.redis.hset('unacked', 'held-1', `[${env}, "", "heldq"]`);
    await fx.redis.zadd('unacked_index', Date.now() / 1000 - 10, 'held-1');
    await fx.redis.set('unacked_mutex', 'python-token', 'PX', 5000);
    expect(await channel.restoreVisible()).toBe(0);
    expect([await fx.redis.get('unacked_mutex'), await fx.redis.llen('heldq')]).toEqual(['python-token', 0]);
    await fx.redis.del('unacked_mutex');
    expect(await channel.restoreVisible()).toBe(1);
  });

  it('restores at most unackedRestoreLimit entries per sweep, newest-expired first', async () => {
    const { channel } = await fx.newTransport({ visibilityTimeout: 1, unackedRestoreLimit: 1 });
    const now = Date.now() / 1000;
    for (const [tag, age] of [['lim-old', 50], ['lim-new', 20]] as const) {
      const env = JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: tag, delivery_info: { exchange: '', routing_key: 'limq' } } });
      await fx.redis.hset('unacked', tag, `[${env}, "", "limq"]`);
      await fx.redis.zadd('unacked_index', now - age, tag);
    }
    expect(await channel.restoreVisible()).toBe(1);
    expect([JSON.parse((await fx.redis.lindex('limq', 0)) as string).properties.delivery_tag, await fx.redis.hexists('unacked', 'lim-old')]).toEqual(['lim-new', 1]);
    expect(await channel.restoreVisible()).toBe(1);
    expect(await fx.redis.llen('limq')).toBe(2);
  });

  it('runs the startup scan when registered with a hub', async () => {
    const env = JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: 'boot-1', delivery_info: { exchange: '', routing_key: 'bootq' } } });
    await fx.redis.hset('unacked', 'boot-1', `[${env}, "", "bootq"]`);
    await fx.redis.zadd('unacked_index', Date.now() / 1000 - 100, 'boot-1');
    const { hub } = await fx.newTransport({ visibilityTimeout: 1 });
    await hub.runUntil(() => false, { timeoutMs: 300 });
    expect(await fx.redis.llen('bootq')).toBe(1);
  });
});

describe('visibility extension', () => {
  it('moves the unacked_index score so the deadline is now + seconds', async () => {
    const { channel, got } = await consumeSome('ext', [{ i: 0 }], 1, { visibilityTimeout: 100 });
    const tag = (got[0] as Delivery).deliveryTag;
    await channel.extendVisibility(tag, 500);
    const score = Number(await fx.redis.zscore('unacked_index', tag));
    expect(Math.abs(score - (Date.now() / 1000 + 400))).toBeLessThan(30);
  });
});
