import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '@kelp/hub';
import type { RedisChannel } from '@kelp/transport-redis';
import { FANOUT_MEMORY_LIMIT } from '../../packages/transport-redis/src/fanout-inbox.js';
import { SEP, bodyOf, collect, message, redisFixture, runFor, spinUntil, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

/**
 * Publishes once the fanout channel has a subscriber: PUBSUB NUMPAT counts every pattern on the
 * shared server, so the publish result (subscribers reached) is the reliable signal.
 */
async function publishWhenSubscribed(channel: RedisChannel, hub: Hub, body: unknown, exchange: string, routingKey: string) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const result = await channel.basicPublish(message(body), exchange, routingKey);
    if ((result.subscribers ?? 0) > 0 || Date.now() > deadline) return result;
    await spinUntil(hub, () => false, 25);
  }
}

describe('fanout over pub/sub', () => {
  it('PUBLISHes on /<db>.<ex> and delivers to the bound consumer, recording it unacked', async () => {
    const consumer = await fx.newTransport();
    await consumer.channel.exchangeDeclare('fx', { type: 'fanout' });
    await consumer.channel.queueBind('fq1', 'fx', '');
    expect(await fx.redis.smembers('_kombu.binding.fx')).toEqual([`${SEP}${SEP}fq1`]);
    const got: Delivery[] = [];
    await consumer.channel.basicConsume('fq1', { onDelivery: (d) => got.push(d) });
    const producer = await fx.newTransport();
    await producer.channel.exchangeDeclare('fx', { type: 'fanout' });
    const result = await publishWhenSubscribed(producer.channel, consumer.hub, { f: 1 }, 'fx', '');
    await collect(consumer.hub, got, 1);
    expect([result.subscribers, bodyOf(got[0] as Delivery), got[0]?.deliveryInfo.queue]).toEqual([1, { f: 1 }, 'fq1']);
    expect(await fx.redis.hexists('unacked', result.deliveryTag)).toBe(1);
    await consumer.channel.basicAck(result.deliveryTag);
  });

  it('subscribes a fanout queue added after the channel is already listening (Kombu pitfall fixed)', async () => {
    const consumer = await fx.newTransport();
    await consumer.channel.exchangeDeclare('fa', { type: 'fanout' });
    await consumer.channel.exchangeDeclare('fb', { type: 'fanout' });
    await consumer.channel.queueBind('qa', 'fa', '');
    await consumer.channel.queueBind('qb', 'fb', '');
    const got: Delivery[] = [];
    await consumer.channel.basicConsume('qa', { noAck: true, onDelivery: (d) => got.push(d) });
    await runFor(consumer.hub, 200);
    await consumer.channel.basicConsume('qb', { noAck: true, onDelivery: (d) => got.push(d) });
    const producer = await fx.newTransport();
    await producer.channel.exchangeDeclare('fb', { type: 'fanout' });
    await publishWhenSubscribed(producer.channel, consumer.hub, { late: true }, 'fb', '');
    await collect(consumer.hub, got, 1);
    expect([got[0]?.deliveryInfo.queue, bodyOf(got[0] as Delivery)]).toEqual(['qb', { late: true }]);
  });

  it('subscribes when a queue already being consumed is bound to a fanout exchange (no consumer change)', async () => {
    const consumer = await fx.newTransport();
    await consumer.channel.exchangeDeclare('fc', { type: 'fanout' });
    const got: Delivery[] = [];
    await consumer.channel.basicConsume('qc', { noAck: true, onDelivery: (d) => got.push(d) });
    await runFor(consumer.hub, 200);
    // Only the binding changes: the hub tick's sync must notice it.
    await consumer.channel.queueBind('qc', 'fc', '');
    const producer = await fx.newTransport();
    await producer.channel.exchangeDeclare('fc', { type: 'fanout' });
    const result = await publishWhenSubscribed(producer.channel, consumer.hub, { bound: true }, 'fc', '');
    await collect(consumer.hub, got, 1);
    expect([result.subscribers, got[0]?.deliveryInfo.queue, bodyOf(got[0] as Delivery)]).toEqual([1, 'qc', { bound: true }]);
  });

  it('routes by binding routing key with # turned into a glob (fanoutPatterns)', async () => {
    const consumer = await fx.newTransport();
    await consumer.channel.exchangeDeclare('news', { type: 'fanout' });
    await consumer.channel.queueBind('nq', 'news', 'news.#');
    const got: Delivery[] = [];
    await consumer.channel.basicConsume('nq', { noAck: true, onDelivery: (d) => got.push(d) });
    const producer = await fx.newTransport();
    await producer.channel.exchangeDeclare('news', { type: 'fanout' });
    await publishWhenSubscribed(producer.channel, consumer.hub, { n: 0 }, 'news', 'news.warmup');
    await producer.channel.basicPublish(message({ n: 1 }), 'news', 'other');
    await producer.channel.basicPublish(message({ n: 2 }), 'news', 'news.sports');
    await collect(consumer.hub, got, 2);
    await runFor(consumer.hub, 100);
    expect(got.map((d) => d.deliveryInfo.routingKey)).toEqual(['news.warmup', 'news.sports']);
  });
});

describe('requeued fanout messages', () => {
  it('are redelivered from the fanout queue list (Kombu leaves them in a list nobody reads)', async () => {
    const consumer = await fx.newTransport();
    await consumer.channel.exchangeDeclare('rfx', { type: 'fanout' });
    await consumer.channel.queueBind('rfq', 'rfx', '');
    const got: Delivery[] = [];
    await consumer.channel.basicConsume('rfq', { onDelivery: (d) => got.push(d) });
    const producer = await fx.newTransport();
    await producer.channel.exchangeDeclare('rfx', { type: 'fanout' });
    const pub = await publishWhenSubscribed(producer.channel, consumer.hub, { again: true }, 'rfx', '');
    await collect(consumer.hub, got, 1);
    await consumer.channel.basicReject(pub.deliveryTag, true);
    await collect(consumer.hub, got, 2);
    expect(got.map((d) => [d.deliveryTag, d.deliveryInfo.redelivered, d.deliveryInfo.queue])).toEqual([
      [pub.deliveryTag, false, 'rfq'],
      [pub.deliveryTag, true, 'rfq'],
    ]);
  });
});

describe('globalKeyprefix', () => {
  it('prefixes queue lists, the binding set and the ack keys, never binding members', async () => {
    const { channel, hub } = await fx.newTransport({ globalKeyprefix: 'pre:' });
    await channel.exchangeDeclare('pex', { type: 'direct' });
    await channel.queueBind('pq', 'pex', 'prk');
    const pub = await channel.basicPublish(message({ x: 1 }, { priority: 7 }), 'pex', 'prk');
    expect([await fx.redis.smembers('pre:_kombu.binding.pex'), await fx.redis.llen(`pre:pq${SEP}6`)]).toEqual([[`prk${SEP}${SEP}pq`], 1]);
    const got: Delivery[] = [];
    await channel.basicConsume('pq', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    expect([got[0]?.deliveryInfo.queue, await fx.redis.hexists('pre:unacked', pub.deliveryTag), await fx.redis.zscore('pre:unacked_index', pub.deliveryTag) !== null]).toEqual(['pq', 1, true]);
    await channel.basicReject(pub.deliveryTag, true);
    expect(await fx.redis.llen('pre:pq')).toBe(1);
  });

  it('prefixes fanout channels in front of the /<db>. prefix', async () => {
    const { channel } = await fx.newTransport({ globalKeyprefix: 'pre:' });
    await channel.exchangeDeclare('pfx', { type: 'fanout' });
    const sub = fx.redis.duplicate();
    await sub.psubscribe(`pre:/${fx.db.db}.pfx`);
    const seen = new Promise<string>((resolve) => sub.on('pmessage', (_p: string, ch: string) => resolve(ch)));
    await channel.basicPublish(message({ f: 1 }), 'pfx', '');
    expect(await seen).toBe(`pre:/${fx.db.db}.pfx`);
    sub.disconnect();
  });
});

describe('fanout back-pressure', () => {
  it('spills fanout messages past the in-memory limit into the queue list, then delivers each exactly once', async () => {
    const consumer = await fx.newTransport();
    await consumer.channel.exchangeDeclare('fspill', { type: 'fanout' });
    await consumer.channel.queueBind('fqspill', 'fspill', '');
    await consumer.channel.basicQos(1);
    const got: Delivery[] = [];
    await consumer.channel.basicConsume('fqspill', { onDelivery: (d) => got.push(d) });
    const producer = await fx.newTransport();
    await producer.channel.exchangeDeclare('fspill', { type: 'fanout' });
    await publishWhenSubscribed(producer.channel, consumer.hub, 0, 'fspill', '');
    const total = FANOUT_MEMORY_LIMIT + 200;
    for (let n = 1; n < total; n++) await producer.channel.basicPublish(message(n), 'fspill', '');
    // Prefetch full and no ack yet: at most FANOUT_MEMORY_LIMIT wait in memory, the rest in Redis.
    let spilled = -1;
    for (let i = 0; i < 100; i++) {
      await runFor(consumer.hub, 50);
      const now = await fx.redis.llen('fqspill');
      if (now === spilled && now > 0) break;
      spilled = now;
    }
    expect(spilled).toBeGreaterThanOrEqual(total - FANOUT_MEMORY_LIMIT - got.length);
    expect(spilled).toBeLessThan(total - FANOUT_MEMORY_LIMIT);
    for (let acked = 0; acked < total; acked++) {
      await collect(consumer.hub, got, acked + 1);
      await consumer.channel.basicAck((got[acked] as Delivery).deliveryTag);
    }
    const bodies = got.map((d) => bodyOf(d) as number);
    expect(new Set(bodies).size).toBe(total);
    expect(Math.min(...bodies)).toBe(0);
    expect(Math.max(...bodies)).toBe(total - 1);
    expect(await fx.redis.llen('fqspill')).toBe(0);
    // `unacked` is shared by the whole file's db: check only this test's tags are gone from it.
    const left = await fx.redis.hmget('unacked', ...got.map((d) => d.deliveryTag));
    expect(left.filter((value) => value !== null)).toEqual([]);
  }, 60_000);
});
