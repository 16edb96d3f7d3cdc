/**
 * Message TTL across Python Kombu 5.2.4 and kelp (docs/kombu-compatibility.md#message-ttl): kelp
 * honours the `expiration` Kombu writes, counted from the AMQP `timestamp` property; a message
 * with an expiration and no timestamp has no known start and never expires. Kombu reads what kelp
 * writes for TTL messages as any other envelope.
 */
import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, bodyOf, collect, message, redisFixture, runFor, type RedisFixture } from '../redis/helpers.js';
import { kombu, type PyMessage } from './kombu-peer.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

describe('Python Kombu -> kelp', () => {
  it('kelp dead-letters a Python message whose expiration passed since its timestamp, and keeps one without a timestamp', async () => {
    await kombu('publish', {
      url: fx.db.url,
      exchange: '',
      routing_key: 'pttl1',
      queue: 'pttl1',
      messages: [
        { body: { i: 1 }, expiration: 1, timestamp_now: true },
        { body: { i: 2 }, expiration: 1 },
        { body: { i: 3 } },
      ],
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const { channel, hub } = await fx.newTransport();
    await channel.queueDeclare('pttl1', { arguments: { 'x-dead-letter': true } });
    const got: Delivery[] = [];
    await channel.basicConsume('pttl1', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 2);
    await runFor(hub, 300);
    expect(got.map((d) => [bodyOf(d), d.properties.expiration])).toEqual([
      [{ i: 2 }, '1000'],
      [{ i: 3 }, undefined],
    ]);
    for (const d of got) await channel.basicAck(d.deliveryTag);
    const dead = (await fx.redis.lrange(`pttl1${SEP}dead`, 0, -1)).map((r) => JSON.parse(r) as { reason: string; payload: string });
    expect(dead.map((r) => [r.reason, JSON.parse(r.payload).properties.expiration])).toEqual([['expired', '1000']]);
    expect(await fx.redis.hlen('unacked')).toBe(0);
  });

  it('kelp delivers a Python message taken before its expiration', async () => {
    await kombu('publish', { url: fx.db.url, exchange: '', routing_key: 'pttl2', queue: 'pttl2', messages: [{ body: { i: 'fresh' }, expiration: 60, timestamp_now: true }] });
    const { channel } = await fx.newTransport();
    const delivery = await channel.basicGet('pttl2');
    expect([delivery && bodyOf(delivery), delivery?.properties.expiration]).toEqual([{ i: 'fresh' }, '60000']);
    if (delivery) await channel.basicAck(delivery.deliveryTag);
  });
});

describe('kelp -> Python Kombu', () => {
  it('a Python consumer reads a kelp message with an expiration on a queue with x-message-ttl', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('kttl1', { arguments: { 'x-message-ttl': 60_000 } });
    await channel.basicPublish(message({ to: 'python' }, { expiration: '30000' }), '', 'kttl1');
    expect(((await fx.redis.lindex('kttl1', 0)) as string).startsWith('{"x-kelp-expires-at":')).toBe(true);
    const got = await kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, queue: 'kttl1', count: 1 });
    expect(got.messages.map((m) => [m.body, m.expiration])).toEqual([[{ to: 'python' }, '30000']]);
    expect(await fx.redis.hlen('unacked')).toBe(0);
  });
});
