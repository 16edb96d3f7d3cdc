/** transport.admin on memory://: the same views and operations as on Redis, on the broker's state. */
import { Buffer } from 'node:buffer';
import type { ConnectionParams, Delivery, OutboundMessage } from '@kelp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryTransport, type MemoryTransport } from '../src/index.js';

const transports: MemoryTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
});

function params(transportOptions: Record<string, unknown> = {}): ConnectionParams {
  return {
    transport: 'memory',
    hostname: '',
    port: undefined,
    username: undefined,
    password: undefined,
    virtualHost: 'admin',
    socketPath: undefined,
    tls: undefined,
    transportOptions,
    alternates: [],
    redactedUrl: 'memory://admin',
  };
}

const msg = (body: string, priority = 0, headers: Record<string, string> = {}): OutboundMessage => ({
  body: new Uint8Array(Buffer.from(body)),
  contentType: 'text/plain',
  contentEncoding: 'utf-8',
  headers,
  properties: { priority },
});

/** A transport whose broker runs on a clock the test moves (seconds). */
async function setup(options: Record<string, unknown> = {}) {
  let now = 1_000_000;
  const definition = createMemoryTransport();
  definition.broker('admin', { now: () => now });
  const transport = definition.create(params(options));
  transports.push(transport);
  const channel = await transport.createChannel();
  return { transport, channel, broker: definition.broker('admin'), advance: (s: number) => (now += s) };
}

describe('memory admin inspect', () => {
  it('shows exchanges with their type and bindings, lengths per priority step, unacked count and age', async () => {
    const { transport, channel, advance } = await setup();
    await channel.exchangeDeclare('tasks', { type: 'direct' });
    await channel.queueDeclare('work');
    await channel.queueBind('work', 'tasks', 'w');
    for (const p of [0, 0, 5, 9]) await channel.basicPublish(msg(`p${p}`, p), 'tasks', 'w');
    await channel.basicGet('work');
    advance(42);
    const report = await transport.admin.inspect();
    expect(report.exchanges).toEqual([{ name: 'tasks', type: 'direct', bindings: [{ queue: 'work', routingKey: 'w' }] }]);
    expect(report.queues).toEqual([
      { name: 'work', length: 3, priorityLengths: { '0': 1, '3': 1, '9': 1 }, unacked: 1, oldestUnackedAge: 42, deadLetters: 0 },
    ]);
    expect(report.unackedTotal).toBe(1);
  });
});

describe('memory admin restore', () => {
  it('restores entries older than the threshold to the head of their queue, dry-run first', async () => {
    const { transport, channel, broker, advance } = await setup();
    await channel.basicPublish(msg('a'), '', 'rq');
    await channel.basicPublish(msg('b'), '', 'rq');
    const first = (await channel.basicGet('rq')) as Delivery;
    advance(100);
    await channel.basicGet('rq');
    advance(10);
    expect(await transport.admin.restore({ olderThan: 50, dryRun: true })).toEqual({ dryRun: true, olderThan: 50, restored: [{ queue: 'rq', count: 1 }], total: 1 });
    expect(broker.unackedCount).toBe(2);
    expect(await transport.admin.restore({ olderThan: 50 })).toEqual({ dryRun: false, olderThan: 50, restored: [{ queue: 'rq', count: 1 }], total: 1 });
    expect(broker.peek('rq').map((p) => JSON.parse(p).properties.delivery_tag)).toEqual([first.deliveryTag]);
    expect(broker.unackedCount).toBe(1);
  });
});

describe('memory admin dead letters', () => {
  it('lists dead letters with reason and bytes and requeues the valid ones with a fresh redelivery count', async () => {
    const { transport, channel, broker } = await setup();
    await channel.basicPublish(msg('keep'), '', 'dq');
    const delivery = (await channel.basicGet('dq')) as Delivery;
    await channel.basicDeadLetter(delivery.deliveryTag, 'not accepted');
    broker.deadLetter('dq', 'garbage', 'envelope is not JSON');
    const entries = await transport.admin.deadLetters('dq');
    expect(entries.map((e) => [e.reason, e.deliveryTag])).toEqual([
      ['not accepted', delivery.deliveryTag],
      ['envelope is not JSON', undefined],
    ]);
    expect((await transport.admin.inspect()).queues.find((q) => q.name === 'dq')?.deadLetters).toBe(2);
    expect(await transport.admin.requeueDeadLetters('dq')).toEqual({ requeued: 1, skipped: 1 });
    const again = (await channel.basicGet('dq')) as Delivery;
    expect([Buffer.from(again.body).toString(), again.deliveryTag]).toEqual(['keep', delivery.deliveryTag]);
    expect(broker.deadLettered('dq').map((e) => e.payload)).toEqual(['garbage']);
  });

  it('dead-letters a reject on a queue declared with x-dead-letter and past x-delivery-limit', async () => {
    const { channel, broker } = await setup();
    await channel.queueDeclare('limited', { arguments: { 'x-dead-letter': true, 'x-delivery-limit': 1 } });
    await channel.basicPublish(msg('r'), '', 'limited');
    for (let i = 0; i < 2; i++) await channel.basicReject(((await channel.basicGet('limited')) as Delivery).deliveryTag, true);
    expect(await channel.basicGet('limited')).toBeUndefined();
    await channel.basicPublish(msg('x'), '', 'limited');
    await channel.basicReject(((await channel.basicGet('limited')) as Delivery).deliveryTag, false);
    expect(broker.deadLettered('limited').map((e) => e.reason)).toEqual(['redelivered 2 times, over the limit of 1', 'rejected without requeue']);
  });
});

describe('Celery eta on memory://', () => {
  it('keeps a delivered message with a future eta invisible to the sweep until its eta', async () => {
    const definition = createMemoryTransport();
    const transport = definition.create(params({ visibilityTimeout: 1 }));
    transports.push(transport);
    const channel = await transport.createChannel();
    const eta = Date.now() / 1000 + 120;
    await channel.basicPublish(msg('later', 0, { eta: new Date(eta * 1000).toISOString() }), '', 'etaq');
    const delivery = (await channel.basicGet('etaq')) as Delivery;
    await new Promise((resolve) => setTimeout(resolve, 10));
    const held = definition.broker('admin').unackedEntry(delivery.deliveryTag);
    expect(Math.abs((held?.deliveredAt ?? 0) - eta)).toBeLessThan(0.1);
    expect(await channel.restoreVisible()).toBe(0);
  });
});

