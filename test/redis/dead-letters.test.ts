/**
 * Dead-lettering on the Redis channel: basicDeadLetter, opt-in dead-letter routing of rejects and
 * of messages past a redelivery limit, the size limit, and the 'deadLettered' event.
 */
import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, bodyOf, collect, message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

interface Record_ {
  reason: string;
  queue: string;
  deliveryTag?: string;
  payload: string;
}
const deadRecords = async (queue: string) => (await fx.redis.lrange(`${queue}${SEP}dead`, 0, -1)).map((r) => JSON.parse(r) as Record_);

describe('basicDeadLetter', () => {
  it('moves the unacked record, with the original envelope bytes and the reason, and reports it', async () => {
    const { channel, transport } = await fx.newTransport();
    const events: { queue: string; reason: string }[] = [];
    transport.on('deadLettered', (info) => events.push(info));
    await channel.basicPublish(message({ n: 1 }), '', 'dl.settle');
    const stored = await fx.redis.lindex('dl.settle', 0);
    const delivery = (await channel.basicGet('dl.settle')) as Delivery;
    await channel.basicDeadLetter(delivery.deliveryTag, 'content type text/yaml is not accepted');
    const [record] = await deadRecords('dl.settle');
    expect(record).toMatchObject({ reason: 'content type text/yaml is not accepted', queue: 'dl.settle', deliveryTag: delivery.deliveryTag, payload: stored });
    expect([await fx.redis.hexists('unacked', delivery.deliveryTag), await fx.redis.zscore('unacked_index', delivery.deliveryTag)]).toEqual([0, null]);
    expect(events).toEqual([{ queue: 'dl.settle', reason: 'content type text/yaml is not accepted' }]);
    expect(channel.qos.size).toBe(0);
  });

  it('does nothing for a tag that was already acked', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ n: 2 }), '', 'dl.acked');
    const delivery = (await channel.basicGet('dl.acked')) as Delivery;
    await channel.basicAck(delivery.deliveryTag);
    await channel.basicDeadLetter(delivery.deliveryTag, 'late');
    expect(await fx.redis.llen(`dl.acked${SEP}dead`)).toBe(0);
  });
});

describe('reject without requeue', () => {
  it('drops the message as Kombu does when the queue has no dead-letter routing', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ n: 3 }), '', 'dl.plain');
    const delivery = (await channel.basicGet('dl.plain')) as Delivery;
    await channel.basicReject(delivery.deliveryTag, false);
    expect([await fx.redis.llen('dl.plain'), await fx.redis.llen(`dl.plain${SEP}dead`), await fx.redis.hlen('unacked')]).toEqual([0, 0, 0]);
  });

  it('dead-letters it on a queue declared with x-dead-letter: true', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('dl.arg', { arguments: { 'x-dead-letter': true } });
    await channel.basicPublish(message({ n: 4 }), '', 'dl.arg');
    const delivery = (await channel.basicGet('dl.arg')) as Delivery;
    await channel.basicReject(delivery.deliveryTag, false);
    expect((await deadRecords('dl.arg')).map((r) => [r.reason, r.deliveryTag])).toEqual([['rejected without requeue', delivery.deliveryTag]]);
  });

  it('dead-letters it on a queue listed in the deadLetterQueues transport option', async () => {
    const { channel } = await fx.newTransport({ deadLetterQueues: 'dl.opt,other' });
    await channel.basicPublish(message({ n: 5 }), '', 'dl.opt');
    const delivery = (await channel.basicGet('dl.opt')) as Delivery;
    await channel.basicReject(delivery.deliveryTag, false);
    expect((await deadRecords('dl.opt')).length).toBe(1);
  });
});

describe('redelivery limit', () => {
  it('counts redeliveries in x-delivery-count and dead-letters the delivery past maxRedeliveries', async () => {
    const { channel, transport } = await fx.newTransport({ deadLetterQueues: '*', maxRedeliveries: 2 });
    const events: string[] = [];
    transport.on('deadLettered', (info) => events.push(info.reason));
    await channel.basicPublish(message({ n: 6 }), '', 'dl.limit');
    const counts: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const delivery = (await channel.basicGet('dl.limit')) as Delivery;
      counts.push(delivery.headers['x-delivery-count'] ?? 0);
      await channel.basicReject(delivery.deliveryTag, true);
    }
    expect(counts).toEqual([0, 1, 2]);
    expect(await channel.basicGet('dl.limit')).toBeUndefined();
    expect(events).toEqual(['redelivered 3 times, over the limit of 2']);
    expect([await fx.redis.llen(`dl.limit${SEP}dead`), await fx.redis.hlen('unacked')]).toEqual([1, 0]);
  });
});

describe('size limit', () => {
  it('dead-letters a message over maxMessageBytes unread and delivers the next one', async () => {
    const { channel, hub } = await fx.newTransport({ maxMessageBytes: 2000 });
    await channel.basicPublish(message({ pad: 'x'.repeat(5000) }), '', 'dl.size');
    await channel.basicPublish(message({ n: 7 }), '', 'dl.size');
    const got: Delivery[] = [];
    await channel.basicConsume('dl.size', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    expect(got.map(bodyOf)).toEqual([{ n: 7 }]);
    // The dead-lettering is asynchronous to the other delivery of the same pop.
    for (let i = 0; i < 100 && (await fx.redis.llen(`dl.size${SEP}dead`)) === 0; i++) await hub.runUntil(() => false, { timeoutMs: 20 });
    const [record] = await deadRecords('dl.size');
    expect(record?.reason).toMatch(/^message of \d+ bytes is over maxMessageBytes \(2000\)$/);
    expect(JSON.parse(record?.payload ?? '{}').body.length).toBeGreaterThan(5000);
    expect(await fx.redis.hlen('unacked')).toBe(1);
  });
});

describe('visibility sweep', () => {
  it('dead-letters an expired unacked message that has no route any more, and reports it', async () => {
    const { channel, transport } = await fx.newTransport({ visibilityTimeout: 1 });
    const events: { queue: string; reason: string }[] = [];
    transport.on('deadLettered', (info) => events.push(info));
    const env = JSON.stringify({
      body: 'e30=',
      headers: {},
      properties: { delivery_tag: 'sweep-1', delivery_info: { exchange: 'dl.gone', routing_key: 'rk.gone' }, body_encoding: 'base64' },
    });
    await fx.redis.hset('unacked', 'sweep-1', `[${env}, "dl.gone", "rk.gone"]`);
    await fx.redis.zadd('unacked_index', Date.now() / 1000 - 60, 'sweep-1');
    // Entries other tests of this file left unacked may be restored too: count at least this one.
    expect(await channel.restoreVisible()).toBeGreaterThanOrEqual(1);
    const [record] = await deadRecords('rk.gone');
    expect([record?.deliveryTag, record?.payload]).toEqual(['sweep-1', env]);
    expect(events.filter((e) => e.queue === 'rk.gone')).toEqual([{ queue: 'rk.gone', reason: "no route on restore: exchange 'dl.gone' routing key 'rk.gone'" }]);
    expect(await fx.redis.hexists('unacked', 'sweep-1')).toBe(0);
  });
});
