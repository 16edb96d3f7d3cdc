import { Buffer } from 'node:buffer';
import type { ConnectionParams, Delivery, OutboundMessage } from '@kelp/core';
import { ConfigurationError } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryTransport, type MemoryTransport } from '../src/index.js';

const hubs: Hub[] = [];
const transports: MemoryTransport[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) hub.close();
  for (const t of transports.splice(0)) await t.close();
});

function params(name = 'default', transportOptions: Record<string, unknown> = {}): ConnectionParams {
  return {
    transport: 'memory',
    hostname: '',
    port: undefined,
    username: undefined,
    password: undefined,
    virtualHost: name,
    socketPath: undefined,
    tls: undefined,
    transportOptions,
    alternates: [],
    redactedUrl: `memory://${name}`,
  };
}

function msg(body: string, priority?: number): OutboundMessage {
  return {
    body: new Uint8Array(Buffer.from(body)),
    contentType: 'text/plain',
    contentEncoding: 'utf-8',
    headers: {},
    properties: priority === undefined ? {} : { priority },
  };
}

const text = (d: Delivery | undefined) => (d ? Buffer.from(d.body).toString() : undefined);

async function setup(options: Record<string, unknown> = {}, definition = createMemoryTransport()) {
  const transport = definition.create(params('default', options));
  transports.push(transport);
  const channel = await transport.createChannel();
  const hub = new Hub();
  hubs.push(hub);
  transport.registerWithEventLoop(hub);
  const got: Delivery[] = [];
  return { definition, transport, channel, hub, got, broker: transport.broker, onDelivery: (d: Delivery) => got.push(d) };
}

describe('memory transport: publish and consume', () => {
  it('delivers a published message to a consumer driven by the hub', async () => {
    const { channel, hub, got, onDelivery } = await setup();
    await channel.queueDeclare('tasks');
    await channel.basicConsume('tasks', { onDelivery });
    await channel.basicPublish(msg('job-1'), '', 'tasks');
    expect(await hub.runUntil(() => got.length === 1, { timeoutMs: 1000 })).toBe(true);
    expect(text(got[0])).toBe('job-1');
    expect(got[0]?.deliveryInfo.redelivered).toBe(false);
  });

  it('wakes an idle consumer when another connection to the same broker publishes', async () => {
    const { channel, hub, got, onDelivery, definition } = await setup();
    await channel.basicConsume('shared', { onDelivery, noAck: true });
    await hub.runUntil(() => false, { timeoutMs: 20 });
    const producer = definition.create(params('default'));
    transports.push(producer);
    const pch = await producer.createChannel();
    await pch.basicPublish(msg('from-other-connection'), '', 'shared');
    expect(await hub.runUntil(() => got.length === 1, { timeoutMs: 1000 })).toBe(true);
    expect(text(got[0])).toBe('from-other-connection');
  });

  it('keeps brokers of different definitions and names apart', async () => {
    const a = createMemoryTransport();
    const b = createMemoryTransport();
    const ta = a.create(params('default'));
    const tb = b.create(params('default'));
    const tc = a.create(params('other'));
    transports.push(ta, tb, tc);
    await (await ta.createChannel()).basicPublish(msg('only-a'), '', 'q');
    expect([ta.broker.size('q'), tb.broker.size('q'), tc.broker.size('q')]).toEqual([1, 0, 0]);
    expect(a.create(params('default')).broker).toBe(ta.broker);
  });

  it('routes topic publishes through bindings made on the broker', async () => {
    const { channel, broker } = await setup();
    await channel.exchangeDeclare('events', { type: 'topic' });
    await channel.queueBind('audit', 'events', 'user.#');
    await channel.queueBind('signups', 'events', 'user.created');
    const result = await channel.basicPublish(msg('u1'), 'events', 'user.created');
    expect(result.queues).toEqual(['audit', 'signups']);
    expect([broker.size('audit'), broker.size('signups')]).toEqual([1, 1]);
  });

  it('stores a fanout publish in every bound queue', async () => {
    const { channel, broker } = await setup();
    await channel.exchangeDeclare('bcast', { type: 'fanout' });
    await channel.queueBind('f1', 'bcast', '');
    await channel.queueBind('f2', 'bcast', '');
    const result = await channel.basicPublish(msg('all'), 'bcast', 'x');
    expect(result).toMatchObject({ status: 'routed', queues: ['f1', 'f2'] });
    expect([broker.size('f1'), broker.size('f2')]).toEqual([1, 1]);
  });

  it('consumes priority 0 first, then by step, FIFO inside a step (docs/wire-format.md#priorities)', async () => {
    const { channel } = await setup();
    for (const p of [0, 5, 9, 2]) await channel.basicPublish(msg(`p${p}`, p), '', 'pq');
    const order: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) order.push(text(await channel.basicGet('pq', { noAck: true })));
    expect(order).toEqual(['p0', 'p2', 'p5', 'p9']);
  });

  it('stores priorities in per-step sub-lists', async () => {
    const { channel, broker } = await setup();
    await channel.basicPublish(msg('a', 7), '', 'pq');
    await channel.basicPublish(msg('b', 1), '', 'pq');
    expect(broker.peek('pq').map((p) => JSON.parse(p).properties.priority)).toEqual([1, 7]);
    expect(broker.size('pq')).toBe(2);
  });
});

describe('memory transport: acknowledgements', () => {
  it('removes the unacked record on ack', async () => {
    const { channel, hub, got, onDelivery, broker } = await setup();
    await channel.basicConsume('q', { onDelivery });
    await channel.basicPublish(msg('m'), '', 'q');
    await hub.runUntil(() => got.length === 1, { timeoutMs: 1000 });
    expect(broker.unackedCount).toBe(1);
    await channel.basicAck(got[0]?.deliveryTag ?? '');
    expect(broker.unackedCount).toBe(0);
    expect(broker.size('q')).toBe(0);
  });

  it('redelivers a requeued message after the ones already waiting, flagged redelivered', async () => {
    const { channel, hub, got, onDelivery } = await setup();
    await channel.basicQos(1);
    await channel.basicConsume('q', { onDelivery });
    await channel.basicPublish(msg('first'), '', 'q');
    await channel.basicPublish(msg('second'), '', 'q');
    await hub.runUntil(() => got.length === 1, { timeoutMs: 1000 });
    await channel.basicReject(got[0]?.deliveryTag ?? '', true);
    await hub.runUntil(() => got.length === 2, { timeoutMs: 1000 });
    await channel.basicAck(got[1]?.deliveryTag ?? '');
    await hub.runUntil(() => got.length === 3, { timeoutMs: 1000 });
    expect(got.map(text)).toEqual(['first', 'second', 'first']);
    expect(got[2]?.deliveryInfo.redelivered).toBe(true);
    expect(got[2]?.deliveryTag).toBe(got[0]?.deliveryTag);
  });

  it('drops a message rejected without requeue', async () => {
    const { channel, broker } = await setup();
    await channel.basicPublish(msg('bad'), '', 'q');
    const d = await channel.basicGet('q');
    await channel.basicReject(d?.deliveryTag ?? '', false);
    expect([broker.size('q'), broker.unackedCount]).toEqual([0, 0]);
  });

  it('never delivers more than the prefetch count before acks', async () => {
    const { channel, hub, got, onDelivery } = await setup();
    await channel.basicQos(3);
    await channel.basicConsume('q', { onDelivery });
    for (let i = 0; i < 10; i++) await channel.basicPublish(msg(`m${i}`), '', 'q');
    await hub.runUntil(() => got.length >= 3, { timeoutMs: 1000 });
    await hub.runUntil(() => got.length > 3, { timeoutMs: 50 });
    expect(got.length).toBe(3);
    for (const d of got.slice()) await channel.basicAck(d.deliveryTag);
    await hub.runUntil(() => got.length === 6, { timeoutMs: 1000 });
    expect(got.map(text)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('keeps the priority sub-list when restoring', async () => {
    const { channel, broker } = await setup();
    await channel.basicPublish(msg('urgent-later', 9), '', 'q');
    const d = await channel.basicGet('q');
    await channel.basicRecover(true);
    expect(d?.properties.priority).toBe(9);
    expect(JSON.parse(broker.peek('q')[0] ?? '{}').properties.priority).toBe(9);
  });

  it('restores unacked messages to the head of the queue when the channel closes', async () => {
    const { channel, hub, got, onDelivery, broker, transport } = await setup();
    await channel.basicConsume('q', { onDelivery });
    for (const b of ['a', 'b', 'c']) await channel.basicPublish(msg(b), '', 'q');
    await hub.runUntil(() => got.length === 3, { timeoutMs: 1000 });
    await channel.basicAck(got[1]?.deliveryTag ?? '');
    await channel.close();
    expect(broker.peek('q').map((p) => Buffer.from(JSON.parse(p).body, 'base64').toString())).toEqual(['a', 'c']);
    expect(broker.unackedCount).toBe(0);
    const again = await transport.createChannel();
    expect((await again.basicGet('q'))?.deliveryInfo.redelivered).toBe(true);
  });
});

describe('memory transport: visibility timeout', () => {
  it('restores a message unacked for longer than visibilityTimeout (fake clock)', async () => {
    let now = 1_000;
    const definition = createMemoryTransport();
    definition.broker('default', { now: () => now });
    const { channel, broker } = await setup({ visibilityTimeout: 30 }, definition);
    await channel.basicPublish(msg('slow'), '', 'q');
    const d = await channel.basicGet('q');
    now += 29;
    expect(await channel.restoreVisible()).toBe(0);
    now += 2;
    expect(await channel.restoreVisible()).toBe(1);
    expect(broker.unackedCount).toBe(0);
    const redelivered = await channel.basicGet('q');
    expect(redelivered?.deliveryTag).toBe(d?.deliveryTag);
    expect(redelivered?.deliveryInfo.redelivered).toBe(true);
  });

  it('postpones the restore after extendVisibility', async () => {
    let now = 1_000;
    const definition = createMemoryTransport();
    definition.broker('default', { now: () => now });
    const { channel } = await setup({ visibilityTimeout: 10 }, definition);
    await channel.basicPublish(msg('long'), '', 'q');
    const d = await channel.basicGet('q');
    now += 8;
    await channel.extendVisibility?.(d?.deliveryTag ?? '', 60);
    now += 30;
    expect(await channel.restoreVisible()).toBe(0);
    now += 31;
    expect(await channel.restoreVisible()).toBe(1);
  });

  it('runs the restore sweep from the hub on its interval', async () => {
    let now = 1_000;
    const definition = createMemoryTransport();
    definition.broker('default', { now: () => now });
    const { channel, hub, got, onDelivery, transport } = await setup(
      { visibility_timeout: 1, unackedRestoreInterval: 0.02 },
      definition,
    );
    await channel.basicPublish(msg('abandoned'), '', 'q');
    const abandoned = await channel.basicGet('q');
    now += 5;
    const consumer = await transport.createChannel();
    await consumer.basicConsume('q', { onDelivery, noAck: true });
    expect(await hub.runUntil(() => got.length === 1, { timeoutMs: 2000 })).toBe(true);
    expect(got[0]?.deliveryTag).toBe(abandoned?.deliveryTag);
  });
});

describe('memory transport: options and lifecycle', () => {
  it('rejects an invalid option with a ConfigurationError naming it', () => {
    const error = (() => {
      try {
        createMemoryTransport().create(params('default', { visibilityTimeout: -5 }));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).option).toBe('transportOptions.visibilityTimeout');
  });

  it('accepts URL-style string values and comma-separated priority steps', async () => {
    const { transport } = await setup({ visibilityTimeout: '30', prioritySteps: '0,5', queueOrderStrategy: 'sorted' });
    expect(transport.options.visibilityTimeout).toBe(30);
    expect(transport.options.prioritySteps).toEqual([0, 5]);
    expect(transport.broker.prioritySteps).toEqual([0, 5]);
  });

  it('moves through idle, ready and closed, and refuses to reconnect once closed', async () => {
    const transport = createMemoryTransport().create(params());
    expect(transport.state).toBe('idle');
    await transport.connect();
    expect(transport.state).toBe('connected');
    await transport.close();
    expect(transport.state).toBe('closed');
    await expect(transport.connect()).rejects.toThrow(/closed/);
  });

  it('hands out channel ids from 1 and reuses freed ones', async () => {
    const { transport, channel } = await setup();
    const second = await transport.createChannel();
    await channel.close();
    const third = await transport.createChannel();
    expect([channel.channelId, second.channelId]).toEqual([1, 2]);
    expect(third.channelId).not.toBe(second.channelId);
  });
});

describe('memory transport: confirmed publishes', () => {
  it('resolves a publish that asks for no replicas', async () => {
    const { channel, broker } = await setup();
    const result = await channel.basicPublish(msg('kept'), '', 'confirmed', { confirm: { replicas: 0 } });
    expect([result.status, result.replicas, broker.size('confirmed')]).toEqual(['routed', undefined, 1]);
  });

  it('refuses a publish that asks for a replica, before storing it: memory:// has none', async () => {
    const { channel, broker } = await setup();
    await expect(channel.basicPublish(msg('never'), '', 'unconfirmable', { confirm: true })).rejects.toMatchObject({
      name: 'ConfigurationError',
      option: 'confirm.replicas',
    });
    expect(broker.size('unconfirmable')).toBe(0);
  });
});
