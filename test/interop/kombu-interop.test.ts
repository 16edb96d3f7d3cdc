/**
 * Wire interop with Python Kombu 5.2.4 (docs/wire-format.md) in both directions, on the shared test
 * server: publish/consume, priorities, restores of abandoned unacked messages, fanout.
 */
import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, collect, message, redisFixture, spinUntil, type RedisFixture } from '../redis/helpers.js';
import { kombu, type PyMessage } from './kombu-peer.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

describe('kelp -> Python Kombu', () => {
  it('a Python consumer gets kelp messages from a direct exchange, step 0 before step 9', async () => {
    const { channel } = await fx.newTransport();
    await channel.exchangeDeclare('ix1', { type: 'direct' });
    await channel.queueBind('iq1', 'ix1', 'irk');
    await channel.basicPublish(message({ n: 1 }, { priority: 9 }), 'ix1', 'irk');
    await channel.basicPublish(message({ n: 2 }, { priority: 0 }, { 'x-h': 'v' }), 'ix1', 'irk');
    const got = await kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, exchange: 'ix1', queue: 'iq1', binding_key: 'irk', count: 2 });
    expect(got.messages.map((m) => [m.body, m.priority, m.routing_key, m.exchange])).toEqual([
      [{ n: 2 }, 0, 'irk', 'ix1'],
      [{ n: 1 }, 9, 'irk', 'ix1'],
    ]);
    expect(got.messages[0]?.headers).toEqual({ 'x-h': 'v' });
    expect(await fx.redis.hlen('unacked')).toBe(0);
  });

  it('a Python consumer routes a kelp topic publish through the stored pattern', async () => {
    const { channel } = await fx.newTransport();
    await channel.exchangeDeclare('itx', { type: 'topic' });
    await channel.queueBind('itq', 'itx', 'stock.#');
    await channel.basicPublish(message({ t: 'usd' }), 'itx', 'stock.usd.nyse');
    const got = await kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, exchange: 'itx', type: 'topic', queue: 'itq', binding_key: 'stock.#', count: 1 });
    expect(got.messages.map((m) => [m.body, m.routing_key])).toEqual([[{ t: 'usd' }, 'stock.usd.nyse']]);
  });

  it('a Python fanout consumer receives a kelp fanout publish', async () => {
    const { channel } = await fx.newTransport();
    await channel.exchangeDeclare('kfan', { type: 'fanout' });
    const before = Number(await fx.redis.call('PUBSUB', 'NUMPAT'));
    const consuming = kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, exchange: 'kfan', type: 'fanout', queue: 'kfanq', binding_key: '', count: 1, timeout: 15 });
    const deadline = Date.now() + 15_000;
    let result = { status: 'unroutable' as string };
    while (Date.now() < deadline && result.status !== 'routed') {
      if (Number(await fx.redis.call('PUBSUB', 'NUMPAT')) > before) result = await channel.basicPublish(message({ to: 'python' }), 'kfan', '');
      else await new Promise((r) => setTimeout(r, 50));
    }
    const got = await consuming;
    expect(got.messages.map((m) => [m.body, m.exchange])).toEqual([[{ to: 'python' }, 'kfan']]);
  });

  it('Python restores a message kelp left unacked, exactly once', async () => {
    const { channel, hub, transport } = await fx.newTransport({ visibilityTimeout: 1 });
    const pub = await channel.basicPublish(message({ abandoned: true }), '', 'iq3');
    const got: Delivery[] = [];
    await channel.basicConsume('iq3', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    expect(await fx.redis.hexists('unacked', pub.deliveryTag)).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    await kombu('restore', { url: fx.db.url, transport_options: { visibility_timeout: 1 } });
    // kelp's own close-time restore now finds the entry gone and pushes nothing (no duplicate).
    await transport.close();
    expect(await fx.redis.llen('iq3')).toBe(1);
    const again = await kombu<{ messages: PyMessage[] }>('consume', { url: fx.db.url, queue: 'iq3', count: 1 });
    expect(again.messages.map((m) => [m.body, m.redelivered, m.delivery_tag])).toEqual([[{ abandoned: true }, true, pub.deliveryTag]]);
  });
});

describe('Python Kombu -> kelp', () => {
  it('kelp consumes Python messages in Kombu priority order and acks them away', async () => {
    await kombu('publish', {
      url: fx.db.url,
      exchange: 'px1',
      routing_key: 'prk',
      queue: 'pq1',
      binding_key: 'prk',
      declare_queue: true,
      messages: [{ body: { i: 0 }, priority: 0 }, { body: { i: 1 }, priority: 5 }, { body: { i: 2 }, priority: 9 }, { body: { i: 3 }, priority: 2 }],
    });
    const { channel, hub } = await fx.newTransport();
    const got: Delivery[] = [];
    await channel.basicConsume('pq1', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 4);
    expect(got.map((d) => [(bodyOf(d) as { i: number }).i, d.properties.priority, d.deliveryInfo.exchange])).toEqual([
      [0, 0, 'px1'],
      [3, 2, 'px1'],
      [1, 5, 'px1'],
      [2, 9, 'px1'],
    ]);
    for (const d of got) await channel.basicAck(d.deliveryTag);
    expect(await fx.redis.hlen('unacked')).toBe(0);
  });

  it('kelp with globalKeyprefix consumes what Python published with global_keyprefix', async () => {
    await kombu('publish', {
      url: fx.db.url,
      transport_options: { global_keyprefix: 'gk:' },
      exchange: 'gkx',
      routing_key: 'gkrk',
      queue: 'gkq',
      binding_key: 'gkrk',
      declare_queue: true,
      messages: [{ body: { gk: 1 }, priority: 7 }],
    });
    expect(await fx.redis.llen('gk:gkq\x06\x166')).toBe(1);
    const { channel, hub } = await fx.newTransport({ globalKeyprefix: 'gk:' });
    const got: Delivery[] = [];
    await channel.basicConsume('gkq', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    await channel.basicAck((got[0] as Delivery).deliveryTag);
    expect([bodyOf(got[0] as Delivery), got[0]?.deliveryInfo.queue, await fx.redis.hlen('gk:unacked')]).toEqual([{ gk: 1 }, 'gkq', 0]);
  });

  it('kelp restores a message a crashed Python consumer left unacked', async () => {
    const { channel, hub } = await fx.newTransport({ visibilityTimeout: 1 });
    await channel.basicPublish(message({ py: 'crash' }), '', 'pq2');
    const crashed = await kombu<{ tags: string[] }>('crash', { url: fx.db.url, queue: 'pq2', count: 1 });
    expect(await fx.redis.hexists('unacked', crashed.tags[0] as string)).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await channel.restoreVisible()).toBe(1);
    const got: Delivery[] = [];
    await channel.basicConsume('pq2', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    expect(got.map((d) => [bodyOf(d), d.deliveryInfo.redelivered, d.deliveryTag])).toEqual([[{ py: 'crash' }, true, crashed.tags[0]]]);
  });

  it('kelp receives a Python fanout publish over pub/sub', async () => {
    const { channel, hub } = await fx.newTransport();
    await channel.exchangeDeclare('pfx', { type: 'fanout' });
    await channel.queueBind('pfq', 'pfx', '');
    const got: Delivery[] = [];
    await channel.basicConsume('pfq', { noAck: true, onDelivery: (d) => got.push(d) });
    const publishing = kombu('fanout-publish', { url: fx.db.url, exchange: 'pfx', body: { fan: 'out' } });
    await spinUntil(hub, () => got.length > 0, 15_000);
    await publishing;
    expect(got.map((d) => [bodyOf(d), d.deliveryInfo.exchange])).toEqual([[{ fan: 'out' }, 'pfx']]);
  });
});
