/**
 * `x-expires` on Redis beyond the conformance suite: what a failing touch, a short expiry and a
 * program that drives the hub itself do to a queue and its messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

describe('x-expires on Redis', () => {
  it('a get whose touch fails takes nothing from the queue (noAck would lose it)', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ n: 1 }, { messageId: 'g1' }), '', 'xe.get');
    // The touch reads the queue's argument hash: a string there makes it fail with WRONGTYPE.
    await fx.redis.set('_kelp.queue.xe.get', 'not a hash');
    await expect(channel.basicGet('xe.get', { noAck: true })).rejects.toThrow(/WRONGTYPE/);
    expect(await fx.redis.llen('xe.get')).toBe(1);
  });
});
