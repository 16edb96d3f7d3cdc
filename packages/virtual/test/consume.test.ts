import type { Delivery } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyOf, message, TestStore, TestTransport } from './helpers/test-storage.js';

const hubs: Hub[] = [];
afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

async function setup(options = {}, features = {}) {
  const transport = new TestTransport(new TestStore(), options, features);
  const channel = await transport.createChannel();
  const hub = new Hub();
  hubs.push(hub);
  transport.registerWithEventLoop(hub);
  return { transport, channel, store: transport.store, hub };
}

function collector() {
  const got: Delivery[] = [];
  return { got, onDelivery: (d: Delivery) => got.push(d) };
}

describe('consuming through the generic poller', () => {
  it('delivers published messages to the consumer from the hub and emits delivery', async () => {
    const { channel, transport, hub } = await setup();
    const { got, onDelivery } = collector();
    const emitted: string[] = [];
    transport.on('delivery', (d) => emitted.push(d.deliveryTag));
    const tag = await channel.basicConsume('q', { onDelivery, consumerTag: 'c1' });
    const { deliveryTag } = await channel.basicPublish(message('hello'), '', 'q');
    expect(await hub.runUntil(() => got.length === 1, { timeoutMs: 1000 })).toBe(true);
    expect(tag).toBe('c1');
    expect(bodyOf(got[0])).toBe('hello');
    expect(got[0]?.deliveryInfo).toMatchObject({ queue: 'q', consumerTag: 'c1', routingKey: 'q' });
    expect(emitted).toEqual([deliveryTag]);
  });

  it('stops at the prefetch count and resumes after an ack', async () => {
    const { channel, hub } = await setup();
    const { got, onDelivery } = collector();
    await channel.basicQos(1);
    await channel.basicConsume('q', { onDelivery });
    for (const b of ['a', 'b', 'c']) await channel.basicPublish(message(b), '', 'q');
    await hub.runUntil(() => got.length >= 1, { timeoutMs: 1000 });
    expect(await hub.runUntil(() => got.length >= 2, { timeoutMs: 50 })).toBe(false);
    await channel.basicAck(got[0]?.deliveryTag ?? '');
    expect(await hub.runUntil(() => got.length === 2, { timeoutMs: 1000 })).toBe(true);
    expect(got.map(bodyOf)).toEqual(['a', 'b']);
  });

  it('serves several queues round-robin, rotating after each delivery', async () => {
    const { channel, hub } = await setup();
    const { got, onDelivery } = collector();
    for (const q of ['qa', 'qb', 'qc']) await channel.basicConsume(q, { onDelivery, noAck: true });
    for (const q of ['qa', 'qb', 'qc']) for (let i = 0; i < 2; i++) await channel.basicPublish(message(q), '', q);
    await hub.runUntil(() => got.length === 6, { timeoutMs: 1000 });
    expect(got.map((d) => d.deliveryInfo.queue)).toEqual(['qa', 'qb', 'qc', 'qa', 'qb', 'qc']);
  });

  it('drains queues in declaration order with the priority strategy', async () => {
    const { channel, hub } = await setup({ queueOrderStrategy: 'priority' });
    const { got, onDelivery } = collector();
    for (const q of ['qb', 'qa']) for (let i = 0; i < 2; i++) await channel.basicPublish(message(q), '', q);
    for (const q of ['qb', 'qa']) await channel.basicConsume(q, { onDelivery, noAck: true });
    await hub.runUntil(() => got.length === 4, { timeoutMs: 1000 });
    expect(got.map((d) => d.deliveryInfo.queue)).toEqual(['qb', 'qb', 'qa', 'qa']);
  });

  it('uses getMany when the broker provides it', async () => {
    const { channel, hub, store } = await setup({}, { getMany: true });
    const { got, onDelivery } = collector();
    await channel.basicQos(2);
    await channel.basicConsume('q', { onDelivery });
    for (const b of ['1', '2', '3']) await channel.basicPublish(message(b), '', 'q');
    await hub.runUntil(() => got.length === 2, { timeoutMs: 1000 });
    expect(store.calls.filter((c) => c.startsWith('getMany'))[0]).toBe('getMany q 2');
    expect(got.map(bodyOf)).toEqual(['1', '2']);
  });

  it('dead-letters a malformed message without stopping the consumer', async () => {
    const { channel, hub, store, transport } = await setup();
    const { got, onDelivery } = collector();
    const dead: string[] = [];
    transport.on('deadLettered', (info) => dead.push(info.queue));
    await channel.basicConsume('q', { onDelivery });
    store.list('q').push('not json at all');
    await channel.basicPublish(message('fine'), '', 'q');
    await hub.runUntil(() => got.length === 1 && dead.length === 1, { timeoutMs: 1000 });
    expect(bodyOf(got[0])).toBe('fine');
    expect(store.dead.map((d) => [d.queue, d.payload])).toEqual([['q', 'not json at all']]);
    expect(dead).toEqual(['q']);
  });

  it('requeues a message taken for a queue whose consumer was cancelled (docs/wire-format.md#orphaned-deliveries)', async () => {
    const { channel, store } = await setup();
    const { got, onDelivery } = collector();
    await channel.basicConsume('q', { onDelivery, consumerTag: 'gone' });
    await channel.basicPublish(message('orphan'), '', 'q');
    const taken = await channel.fetch(1);
    await channel.basicCancel('gone');
    await channel.handleIncoming(taken[0]?.queue ?? '', taken[0]?.payload ?? '', { recorded: true });
    expect(got).toEqual([]);
    expect(store.bodies('q')).toEqual(['orphan']);
    expect(store.unacked.size).toBe(0);
    expect(JSON.parse(store.queues.get('q')?.[0] ?? '{}').headers.redelivered).toBe(true);
  });

  it('records unacked a delivery that did not come through get (pub/sub)', async () => {
    const { channel, store } = await setup();
    const { got, onDelivery } = collector();
    await channel.basicConsume('fq', { onDelivery });
    await channel.basicPublish(message('fan'), '', 'elsewhere');
    const payload = store.queues.get('elsewhere')?.[0] ?? '';
    await channel.handleIncoming('fq', payload, { recorded: false });
    expect(got.map(bodyOf)).toEqual(['fan']);
    expect(store.unacked.has(got[0]?.deliveryTag ?? '')).toBe(true);
    expect(channel.qos.size).toBe(1);
  });

  it('records a message popped for a noAck consumer and delivered to an ack-mode one under the queue it came from', async () => {
    const { channel, store } = await setup();
    const { got, onDelivery } = collector();
    await channel.basicConsume('q', { noAck: true, onDelivery: () => undefined, consumerTag: 'fast' });
    await channel.basicPublish(message('switched'), '', 'q');
    const taken = await channel.fetch(1);
    expect(taken.map((item) => item.recorded)).toEqual([false]);
    // The consumer is replaced between the pop and the delivery.
    await channel.basicCancel('fast');
    await channel.basicConsume('q', { onDelivery });
    await channel.handleIncoming('q', taken[0]?.payload ?? '', { recorded: false });
    const tag = got[0]?.deliveryTag ?? '';
    expect(got.map(bodyOf)).toEqual(['switched']);
    expect(store.unacked.has(tag)).toBe(true);
    // A store keeping records per queue (the sharded cluster layout) writes it in that queue's keys.
    expect(store.recordedFrom.get(tag)).toBe('q');
  });

  it('keeps delivering when a consumer callback throws, reporting the error', async () => {
    const { channel, hub, transport } = await setup();
    const errors: Error[] = [];
    transport.on('error', (e) => errors.push(e));
    let calls = 0;
    await channel.basicConsume('q', {
      noAck: true,
      onDelivery: () => {
        calls++;
        throw new Error('boom');
      },
    });
    await channel.basicPublish(message('1'), '', 'q');
    await channel.basicPublish(message('2'), '', 'q');
    await hub.runUntil(() => calls === 2, { timeoutMs: 1000 });
    expect(errors.map((e) => e.message)).toEqual(['boom', 'boom']);
  });

  it('restores prefetched unacked messages when the channel closes', async () => {
    const { channel, hub, store } = await setup();
    const { got, onDelivery } = collector();
    await channel.basicConsume('q', { onDelivery });
    for (const b of ['x', 'y']) await channel.basicPublish(message(b), '', 'q');
    await hub.runUntil(() => got.length === 2, { timeoutMs: 1000 });
    await channel.close();
    expect(store.bodies('q')).toEqual(['x', 'y']);
    expect(store.unacked.size).toBe(0);
  });

  it('does not poll while idle: no get calls without a wake-up', async () => {
    const { channel, hub, store } = await setup();
    await channel.basicConsume('q', { onDelivery: () => {}, noAck: true });
    await hub.runUntil(() => false, { timeoutMs: 30 });
    const before = store.calls.length;
    await hub.runUntil(() => false, { timeoutMs: 60 });
    expect(store.calls.length).toBe(before);
  });
});

describe('consumer bookkeeping', () => {
  it('ignores cancel of an unknown consumer tag', async () => {
    const { channel } = await setup();
    await channel.basicConsume('q', { onDelivery: () => {}, consumerTag: 'known' });
    await channel.basicCancel('unknown');
    expect(channel.consumedQueues).toEqual(['q']);
  });

  it('refuses a consumer tag that is already in use on the channel', async () => {
    const { channel } = await setup();
    await channel.basicConsume('q', { onDelivery: () => {}, consumerTag: 'dup' });
    await expect(channel.basicConsume('q2', { onDelivery: () => {}, consumerTag: 'dup' })).rejects.toMatchObject({ code: 530 });
  });

  it('deletes an autoDelete queue when its last consumer is cancelled', async () => {
    const { channel, store } = await setup();
    await channel.queueDeclare('temp', { autoDelete: true });
    await channel.basicPublish(message('left'), '', 'temp');
    await channel.basicConsume('temp', { onDelivery: () => {}, consumerTag: 't1' });
    await channel.basicCancel('t1');
    expect(store.queues.has('temp')).toBe(false);
    expect(channel.consumedQueues).toEqual([]);
  });

  it('requeues messages a poll took but had not delivered when the channel closes', async () => {
    const { channel, hub, store } = await setup();
    const { got, onDelivery } = collector();
    await channel.basicConsume('q', { onDelivery });
    await channel.basicPublish(message('in-flight'), '', 'q');
    hub.runOnce();
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.unacked.size).toBe(1);
    await channel.close();
    hub.runOnce();
    expect(got).toEqual([]);
    expect(store.bodies('q')).toEqual(['in-flight']);
    expect(store.unacked.size).toBe(0);
  });
});
