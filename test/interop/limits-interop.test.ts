/**
 * Length limits next to Python Kombu 5.2.4 (docs/kombu-compatibility.md#length-limits): a Python
 * consumer reads a kelp queue kept within x-max-length and sees exactly the messages kelp kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, redisFixture, type RedisFixture } from '../redis/helpers.js';
import { kombu, type PyMessage } from './kombu-peer.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

describe('kelp -> Python Kombu', () => {
  it('a Python consumer gets the newest messages of a drop-head queue and nothing else', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('klim1', { arguments: { 'x-max-length': 2 } });
    for (const n of [1, 2, 3]) await channel.basicPublish(message({ n }), '', 'klim1');
    const got = await kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, queue: 'klim1', count: 3, timeout: 2 });
    expect(got.messages.map((m) => m.body)).toEqual([{ n: 2 }, { n: 3 }]);
    expect(await fx.redis.hget('_kelp.dropped.maxlen', 'klim1\x06\x16dead')).toBe('1');
  });
});
