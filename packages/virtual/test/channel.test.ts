import { ChannelClosedError, ChannelError, NotEquivalentError, NotFoundError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { bodyOf, message, TestStore, TestTransport } from './helpers/test-storage.js';

async function setup(options = {}, features = {}) {
  const transport = new TestTransport(new TestStore(), options, features);
  const channel = await transport.createChannel();
  return { transport, channel, store: transport.store };
}

describe('exchange declarations (docs/wire-format.md#exchange-state)', () => {
  it('rejects a passive declare of an unknown exchange with Kombu NOT_FOUND', async () => {
    const { channel } = await setup();
    await expect(channel.exchangeDeclare('nope', { type: 'direct', passive: true })).rejects.toThrow(
      new NotFoundError("NOT_FOUND - no exchange 'nope' in vhost 'testvh'"),
    );
  });

  it('accepts an identical redeclare and refuses a different type', async () => {
    const { channel } = await setup();
    await channel.exchangeDeclare('ex', { type: 'direct' });
    await channel.exchangeDeclare('ex', { type: 'direct', durable: true });
    const error = await channel.exchangeDeclare('ex', { type: 'topic' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotEquivalentError);
    expect((error as NotEquivalentError).code).toBe(406);
  });

  it('refuses a redeclare with different autoDelete', async () => {
    const { channel } = await setup();
    await channel.exchangeDeclare('ex', { type: 'fanout' });
    await expect(channel.exchangeDeclare('ex', { type: 'fanout', autoDelete: true })).rejects.toBeInstanceOf(NotEquivalentError);
  });
});

describe('routing and publish results', () => {
  it('publishes to the anonymous exchange straight into the queue named by the routing key', async () => {
    const { channel, store } = await setup();
    const result = await channel.basicPublish(message('hi'), '', 'q1');
    expect(result.status).toBe('routed');
    expect(result.queues).toEqual(['q1']);
    expect(store.bodies('q1')).toEqual(['hi']);
  });

  it('routes direct by exact routing key to every bound queue', async () => {
    const { channel, store } = await setup();
    await channel.exchangeDeclare('dx', { type: 'direct' });
    await channel.queueBind('qa', 'dx', 'k');
    await channel.queueBind('qb', 'dx', 'k');
    await channel.queueBind('qc', 'dx', 'other');
    const result = await channel.basicPublish(message('m'), 'dx', 'k');
    expect(result.queues).toEqual(['qa', 'qb']);
    expect([store.bodies('qa'), store.bodies('qb'), store.bodies('qc')]).toEqual([['m'], ['m'], []]);
  });

  it('stores topic bindings with the compiled pattern and routes by it', async () => {
    const { channel, store } = await setup();
    await channel.exchangeDeclare('tx', { type: 'topic' });
    await channel.queueBind('stocks', 'tx', 'stock.#');
    expect(store.tables.get('tx')).toEqual([{ routingKey: 'stock.#', pattern: '^stock\\..*?$', queue: 'stocks' }]);
    expect((await channel.basicPublish(message('a'), 'tx', 'stock.us')).queues).toEqual(['stocks']);
    expect((await channel.basicPublish(message('b'), 'tx', 'stock')).status).toBe('unroutable');
  });

  it('routes an undeclared exchange with direct semantics, as Kombu does', async () => {
    const { channel, store } = await setup();
    store.tables.set('unknown', [{ routingKey: 'a.#', pattern: '^a\\..*?$', queue: 'q' }]);
    expect((await channel.basicPublish(message('x'), 'unknown', 'a.b')).status).toBe('unroutable');
    expect((await channel.basicPublish(message('y'), 'unknown', 'a.#')).queues).toEqual(['q']);
  });

  it('stores fanout in every bound queue when the broker has no pub/sub', async () => {
    const { channel, store } = await setup();
    await channel.exchangeDeclare('fx', { type: 'fanout' });
    await channel.queueBind('f1', 'fx', '');
    await channel.queueBind('f2', 'fx', 'ignored');
    const result = await channel.basicPublish(message('all'), 'fx', 'whatever');
    expect(result.queues).toEqual(['f1', 'f2']);
    expect(store.bodies('f2')).toEqual(['all']);
  });

  it('hands fanout to putFanout when the broker supports it and reports subscribers', async () => {
    const { channel, store } = await setup({}, { fanout: true });
    await channel.exchangeDeclare('fx', { type: 'fanout' });
    await channel.queueBind('f1', 'fx', '');
    const result = await channel.basicPublish(message('b'), 'fx', 'rk');
    expect(result).toMatchObject({ status: 'routed', queues: [], subscribers: 1 });
    expect(store.fanout.map((f) => [f.exchange, f.routingKey])).toEqual([['fx', 'rk']]);
    expect(store.queues.get('f1')).toBeUndefined();
  });

  it('reports unroutable without storing anything when no dead-letter queue is set', async () => {
    const { channel, store } = await setup();
    await channel.exchangeDeclare('dx', { type: 'direct' });
    const result = await channel.basicPublish(message('lost?'), 'dx', 'nomatch');
    expect(result.status).toBe('unroutable');
    expect(result.queues).toEqual([]);
    expect(store.queues.size).toBe(0);
  });

  it('dead-letters unroutable publishes into deadletterQueue when configured', async () => {
    const { channel, store } = await setup({ deadletterQueue: 'dlq' });
    await channel.exchangeDeclare('tx', { type: 'topic' });
    const result = await channel.basicPublish(message('d'), 'tx', 'nomatch');
    expect(result).toMatchObject({ status: 'dead-lettered', queues: ['dlq'] });
    expect(store.bodies('dlq')).toEqual(['d']);
  });

  it('gives every publish a distinct UUID4 delivery tag', async () => {
    const { channel } = await setup();
    const tags = new Set<string>();
    for (let i = 0; i < 100; i++) tags.add((await channel.basicPublish(message('x'), '', 'q')).deliveryTag);
    expect(tags.size).toBe(100);
    expect([...tags].every((t) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(t))).toBe(true);
  });
});

describe('queues', () => {
  it('declares an unnamed queue as amq.gen-<uuid>', async () => {
    const { channel } = await setup();
    const result = await channel.queueDeclare('');
    expect(result.queue).toMatch(/^amq\.gen-[0-9a-f-]{36}$/);
    expect(result.messageCount).toBe(0);
  });

  it('rejects a passive declare of a missing queue with NOT_FOUND', async () => {
    const { channel } = await setup();
    await expect(channel.queueDeclare('ghost', { passive: true })).rejects.toThrow("NOT_FOUND - no queue 'ghost' in vhost 'testvh'");
  });

  it('purges and reports how many messages were removed', async () => {
    const { channel } = await setup();
    for (let i = 0; i < 3; i++) await channel.basicPublish(message(`m${i}`), '', 'q');
    expect(await channel.queuePurge('q')).toBe(3);
    expect((await channel.queueDeclare('q')).messageCount).toBe(0);
  });

  it('deletes only empty queues with ifEmpty', async () => {
    const { channel, store } = await setup();
    await channel.basicPublish(message('m'), '', 'q');
    expect(await channel.queueDelete('q', { ifEmpty: true })).toBe(0);
    expect(store.bodies('q')).toEqual(['m']);
    expect(await channel.queueDelete('q')).toBe(1);
    expect(store.queues.has('q')).toBe(false);
  });

  it('removes the bindings of a deleted queue', async () => {
    const { channel, store } = await setup();
    await channel.exchangeDeclare('dx', { type: 'direct' });
    await channel.queueBind('q', 'dx', 'k');
    await channel.queueDelete('q');
    expect(store.tables.get('dx')).toEqual([]);
  });

  it('removes the stored row on unbind', async () => {
    const { channel, store } = await setup();
    await channel.exchangeDeclare('dx', { type: 'direct' });
    await channel.queueBind('q', 'dx', 'k');
    await channel.queueUnbind('q', 'dx', 'k');
    expect(store.tables.get('dx')).toEqual([]);
  });

  it('deletes the exchange, its bindings and its empty queues', async () => {
    const { channel, store, transport } = await setup();
    await channel.exchangeDeclare('dx', { type: 'direct' });
    await channel.queueBind('q', 'dx', 'k');
    await channel.exchangeDelete('dx');
    expect(store.tables.get('dx')).toEqual([]);
    expect(transport.brokerState.exchanges.has('dx')).toBe(false);
  });
});

describe('basicGet, ack, reject and restore', () => {
  it('gets one message and records it unacked until acked', async () => {
    const { channel, store } = await setup();
    const { deliveryTag } = await channel.basicPublish(message('one'), '', 'q');
    const delivery = await channel.basicGet('q');
    expect(bodyOf(delivery)).toBe('one');
    expect(delivery?.deliveryTag).toBe(deliveryTag);
    expect(channel.qos.unackedTags()).toEqual([deliveryTag]);
    expect(store.unacked.has(deliveryTag)).toBe(true);
    await channel.basicAck(deliveryTag);
    expect(store.unacked.size).toBe(0);
    expect(channel.qos.size).toBe(0);
  });

  it('returns undefined from an empty queue', async () => {
    const { channel } = await setup();
    expect(await channel.basicGet('empty')).toBeUndefined();
  });

  it('records nothing for a noAck get', async () => {
    const { channel, store } = await setup();
    await channel.basicPublish(message('x'), '', 'q');
    const delivery = await channel.basicGet('q', { noAck: true });
    expect(delivery?.noAck).toBe(true);
    expect(store.unacked.size).toBe(0);
    expect(channel.qos.size).toBe(0);
  });

  it('requeues a rejected message at the back of its queue, marked redelivered', async () => {
    const { channel, store } = await setup();
    await channel.basicPublish(message('first'), '', 'q');
    await channel.basicPublish(message('second'), '', 'q');
    const delivery = await channel.basicGet('q');
    await channel.basicReject(delivery?.deliveryTag ?? '', true);
    expect(store.bodies('q')).toEqual(['second', 'first']);
    const again = await channel.basicGet('q');
    const last = await channel.basicGet('q');
    expect([bodyOf(again), bodyOf(last)]).toEqual(['second', 'first']);
    expect(last?.deliveryInfo.redelivered).toBe(true);
    expect(last?.deliveryTag).toBe(delivery?.deliveryTag);
  });

  it('drops a message rejected without requeue', async () => {
    const { channel, store } = await setup();
    await channel.basicPublish(message('bye'), '', 'q');
    const delivery = await channel.basicGet('q');
    await channel.basicReject(delivery?.deliveryTag ?? '', false);
    expect(store.unacked.size).toBe(0);
    expect(store.bodies('q')).toEqual([]);
  });

  it('restores to the head of the queue, keeping delivery order (basicRecover)', async () => {
    const { channel, store } = await setup();
    for (const b of ['a', 'b', 'c']) await channel.basicPublish(message(b), '', 'q');
    await channel.basicGet('q');
    await channel.basicGet('q');
    await channel.basicRecover(true);
    expect(store.bodies('q')).toEqual(['a', 'b', 'c']);
    expect(channel.qos.size).toBe(0);
  });

  it('refuses basicRecover without requeue', async () => {
    const { channel } = await setup();
    await expect(channel.basicRecover(false)).rejects.toBeInstanceOf(ChannelError);
  });

  it('restores through the current bindings of the exchange to every bound queue', async () => {
    const { channel, store } = await setup();
    await channel.exchangeDeclare('dx', { type: 'direct' });
    await channel.queueBind('q1', 'dx', 'k');
    await channel.basicPublish(message('m'), 'dx', 'k');
    const delivery = await channel.basicGet('q1');
    await channel.queueBind('q2', 'dx', 'k');
    await channel.basicRestore([delivery?.deliveryTag ?? '']);
    expect([store.bodies('q1'), store.bodies('q2')]).toEqual([['m'], ['m']]);
  });

  it('dead-letters a restore that finds no route instead of dropping it', async () => {
    const { channel, store, transport } = await setup();
    const events: { queue: string; reason: string }[] = [];
    transport.on('deadLettered', (info) => events.push(info));
    await channel.exchangeDeclare('dx', { type: 'direct' });
    await channel.queueBind('q1', 'dx', 'k');
    await channel.basicPublish(message('m'), 'dx', 'k');
    const delivery = await channel.basicGet('q1');
    await channel.queueUnbind('q1', 'dx', 'k');
    await channel.basicReject(delivery?.deliveryTag ?? '', true);
    expect(store.dead.map((d) => d.queue)).toEqual(['q1']);
    expect(events[0]?.reason).toMatch(/no route on restore/);
  });

  it('dead-letters a malformed message met by basicGet and returns the next good one', async () => {
    const { channel, store } = await setup();
    store.list('q').push('{"garbage": true}');
    await channel.basicPublish(message('good'), '', 'q');
    expect(bodyOf(await channel.basicGet('q'))).toBe('good');
    expect(store.dead).toHaveLength(1);
    expect(store.dead[0]?.reason).toMatch(/properties/);
  });
});

describe('close', () => {
  it('restores unacked messages to the head and is idempotent', async () => {
    const { channel, store } = await setup();
    await channel.basicPublish(message('a'), '', 'q');
    await channel.basicPublish(message('b'), '', 'q');
    await channel.basicGet('q');
    await Promise.all([channel.close(), channel.close()]);
    expect(store.bodies('q')).toEqual(['a', 'b']);
    expect(store.unacked.size).toBe(0);
    expect(channel.state).toBe('closed');
  });

  it('makes later calls fail with ChannelClosedError carrying the closing stack', async () => {
    const { channel } = await setup();
    await channel.close();
    const error = await channel.basicPublish(message('x'), '', 'q').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelClosedError);
    expect((error as Error).message).toMatch(/Channel 1 is closed[\s\S]*Channel was closed at:/);
  });

  it('closes every channel when the transport closes', async () => {
    const { transport, channel } = await setup();
    const second = await transport.createChannel();
    await transport.close();
    expect([channel.state, second.state, transport.state]).toEqual(['closed', 'closed', 'closed']);
  });
});
