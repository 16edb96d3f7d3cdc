import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, bodyOf, collect, message, redisFixture, runFor, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

describe('publishing writes Kombu 5.2.4 keys', () => {
  it('LPUSHes a routed message to the queue list and SADDs the binding member', async () => {
    const { channel } = await fx.newTransport();
    await channel.exchangeDeclare('myex', { type: 'direct' });
    await channel.queueDeclare('myq');
    await channel.queueBind('myq', 'myex', 'myrk');
    const result = await channel.basicPublish(message({ hello: 'world' }), 'myex', 'myrk');
    expect(await fx.redis.smembers('_kombu.binding.myex')).toEqual([`myrk${SEP}${SEP}myq`]);
    const stored = JSON.parse((await fx.redis.lindex('myq', 0)) as string);
    expect(stored.properties.delivery_info).toEqual({ exchange: 'myex', routing_key: 'myrk' });
    expect([stored.properties.delivery_tag, stored.properties.body_encoding, result.queues]).toEqual([result.deliveryTag, 'base64', ['myq']]);
  });

  it('stores a priority-7 message in the step-6 sub-list', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message({ p: 7 }, { priority: 7 }), '', 'prio7');
    expect([await fx.redis.llen('prio7'), await fx.redis.llen(`prio7${SEP}6`)]).toEqual([0, 1]);
  });

  it('stores topic bindings with the compiled pattern', async () => {
    const { channel } = await fx.newTransport();
    await channel.exchangeDeclare('tx', { type: 'topic' });
    await channel.queueBind('tq', 'tx', 'stock.#');
    expect(await fx.redis.smembers('_kombu.binding.tx')).toEqual([`stock.#${SEP}^stock\\..*?$${SEP}tq`]);
  });

  it('reports the message count of a declared queue over all step lists', async () => {
    const { channel } = await fx.newTransport();
    await fx.redis.lpush('counted', 'a', 'b');
    await fx.redis.lpush(`counted${SEP}9`, 'c');
    expect((await channel.queueDeclare('counted')).messageCount).toBe(3);
  });
});

describe('consuming records unacked exactly as Kombu does', () => {
  it('delivers a message and records [envelope, exchange, rk] with a Unix-time score', async () => {
    const { channel, hub } = await fx.newTransport();
    await channel.queueBind('cq1', 'cx1', 'rk1');
    const pub = await channel.basicPublish(message({ n: 1 }), 'cx1', 'rk1');
    const raw = (await fx.redis.lindex('cq1', 0)) as string;
    const got: Delivery[] = [];
    await channel.basicConsume('cq1', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    expect([got[0]?.deliveryTag, bodyOf(got[0] as Delivery)]).toEqual([pub.deliveryTag, { n: 1 }]);
    expect(await fx.redis.hget('unacked', pub.deliveryTag)).toBe(`[${raw}, "cx1", "rk1"]`);
    const score = Number(await fx.redis.zscore('unacked_index', pub.deliveryTag));
    expect(Math.abs(score - Date.now() / 1000)).toBeLessThan(30);
  });

  it('removes the unacked entries on ack', async () => {
    const { channel, hub } = await fx.newTransport();
    const pub = await channel.basicPublish(message({ n: 2 }), '', 'cq2');
    const got: Delivery[] = [];
    await channel.basicConsume('cq2', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    await channel.basicAck(pub.deliveryTag);
    expect([await fx.redis.hexists('unacked', pub.deliveryTag), await fx.redis.zscore('unacked_index', pub.deliveryTag)]).toEqual([0, null]);
  });

  it('records nothing for a noAck consumer', async () => {
    const { channel, hub } = await fx.newTransport();
    const pub = await channel.basicPublish(message({ n: 3 }), '', 'cq3');
    const got: Delivery[] = [];
    await channel.basicConsume('cq3', { noAck: true, onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    expect([got.length, await fx.redis.hexists('unacked', pub.deliveryTag)]).toEqual([1, 0]);
  });

  it('serves lower priority numbers first (step 0 before 3, 6, 9), FIFO inside a step', async () => {
    const { channel, hub } = await fx.newTransport();
    for (const [i, p] of [[0, 0], [1, 5], [2, 9], [3, 2]] as const) await channel.basicPublish(message({ i }, { priority: p }), '', 'pq');
    const got: Delivery[] = [];
    await channel.basicConsume('pq', { noAck: true, onDelivery: (d) => got.push(d) });
    await collect(hub, got, 4);
    expect(got.map((d) => (bodyOf(d) as { i: number }).i)).toEqual([0, 3, 1, 2]);
  });

  it('delivers a message pushed while the consumer waits, without waiting for the poll timer', async () => {
    const { channel, hub, transport } = await fx.newTransport({ brpopTimeout: 30 });
    const got: Delivery[] = [];
    await channel.basicConsume('late', { noAck: true, onDelivery: (d) => got.push(d) });
    await runFor(hub, 300);
    const started = Date.now();
    await fx.redis.lpush('late', JSON.stringify({ body: 'eyJhIjogMX0=', 'content-type': 'application/json', 'content-encoding': 'utf-8', headers: {}, properties: { delivery_tag: 'late-1', delivery_info: { exchange: '', routing_key: 'late' }, body_encoding: 'base64' } }));
    await collect(hub, got, 1, 5000);
    expect([got[0]?.deliveryTag, Date.now() - started < 3000, transport.wakeMode(channel)]).toEqual(['late-1', true, 'on']);
  });

  it('takes no more than the prefetch count until an ack', async () => {
    const { channel, hub } = await fx.newTransport();
    for (let i = 0; i < 3; i++) await channel.basicPublish(message({ i }), '', 'pf');
    await channel.basicQos(1);
    const got: Delivery[] = [];
    await channel.basicConsume('pf', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    await runFor(hub, 300);
    expect([got.length, await fx.redis.llen('pf'), await fx.redis.hlen('unacked') >= 1]).toEqual([1, 2, true]);
    await channel.basicAck((got[0] as Delivery).deliveryTag);
    await collect(hub, got, 2);
    expect(got.length).toBe(2);
  });

  it('dead-letters a malformed payload with its reason instead of losing it', async () => {
    const { channel, hub, transport } = await fx.newTransport();
    const dead: string[] = [];
    transport.on('deadLettered', (info) => dead.push(`${info.queue}:${info.reason}`));
    await fx.redis.lpush('badq', 'garbage{');
    const got: Delivery[] = [];
    await channel.basicConsume('badq', { onDelivery: (d) => got.push(d) });
    await hub.runUntil(() => dead.length > 0, { timeoutMs: 5000 });
    expect(dead).toEqual(['badq:payload is not a JSON object']);
    expect(JSON.parse((await fx.redis.lindex(`badq${SEP}dead`, 0)) as string).payload).toBe('garbage{');
  });
});
