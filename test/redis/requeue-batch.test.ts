/**
 * Rejects with requeue gathered per tick (the batched path): the same outcomes as one at a time,
 * down to where an unroutable message is dead-lettered, and close() waits for them.
 */
import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(async () => {
  await fx.close();
});

describe('rejects with requeue, batched per tick', () => {
  it('dead-letters an unroutable one to the queue it was delivered from, as a single restore does', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ n: 1 }), '', 'rv.unr');
    const delivery = (await channel.basicGet('rv.unr')) as Delivery;
    // The message came through a topic exchange whose binding is gone by now.
    const raw = (await fx.redis.hget('unacked', delivery.deliveryTag)) as string;
    const [env] = JSON.parse(raw);
    await fx.redis.hset('unacked', delivery.deliveryTag, JSON.stringify([env, 'rv.gone.ex', 'rv.some.key']));
    await channel.basicReject(delivery.deliveryTag, true);
    const onQueue = await fx.redis.llen(`rv.unr${SEP}dead`);
    const onKey = await fx.redis.llen(`rv.some.key${SEP}dead`);
    expect({ onQueue, onKey }).toEqual({ onQueue: 1, onKey: 0 });
  });

  it('finishes a requeue issued right before close() before the channel lets go', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ n: 2 }), '', 'rv.close');
    const delivery = (await channel.basicGet('rv.close')) as Delivery;
    const rejected = channel.basicReject(delivery.deliveryTag, true).then(() => 'ok', (e: unknown) => String(e));
    await channel.close();
    const outcome = await rejected;
    expect({ outcome, inUnacked: await fx.redis.hexists('unacked', delivery.deliveryTag), len: await fx.redis.llen('rv.close') }).toEqual({ outcome: 'ok', inUnacked: 0, len: 1 });
  });
});
