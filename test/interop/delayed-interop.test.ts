/**
 * Delayed delivery next to Python Kombu 5.2.4 (docs/kombu-compatibility.md#delayed-delivery): a
 * Python consumer of a kelp queue sees only the visible messages; a delayed one reaches it only
 * once a kelp process running a hub has moved it into the queue's list, and then as an ordinary
 * Kombu message (priority sub-list included). Kombu never reads `_kelp.delayed.<q>`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, redisFixture, runFor, type RedisFixture } from '../redis/helpers.js';
import { kombu, type PyMessage } from './kombu-peer.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

describe('kelp -> Python Kombu', () => {
  it('a Python consumer gets only the visible messages, and a delayed one once a kelp mover moved it', { timeout: 30_000 }, async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('kdel1', {});
    await channel.basicPublish(message({ n: 'now' }), '', 'kdel1');
    await channel.basicPublish(message({ n: 'soon' }, { priority: 9 }), '', 'kdel1', { deliverAt: Date.now() + 500 });
    await channel.basicPublish(message({ n: 'later' }), '', 'kdel1', { deliverAt: Date.now() + 60_000 });

    const first = await kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, queue: 'kdel1', count: 3, timeout: 2 });
    expect(first.messages.map((m) => m.body)).toEqual([{ n: 'now' }]);
    // 'soon' is due by now, but no kelp process has run a hub since: Python cannot see it.
    const unmoved = await kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, queue: 'kdel1', count: 1, timeout: 1 });
    expect(unmoved.messages).toEqual([]);
    expect(await fx.redis.zcard('_kelp.delayed.kdel1')).toBe(2);

    // A mover: this process runs a hub for a moment (its poller runs the delayed mover).
    const mover = await fx.newTransport();
    await runFor(mover.hub, 1500);
    const moved = await kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, queue: 'kdel1', count: 2, timeout: 2 });
    expect(moved.messages.map((m) => [m.body, m.priority, m.redelivered])).toEqual([[{ n: 'soon' }, 9, false]]);
    expect(await fx.redis.zrange('_kelp.delayed.kdel1', 0, -1)).toHaveLength(1);
    expect(await fx.redis.llen('kdel1\x06\x169')).toBe(0);
  });
});
