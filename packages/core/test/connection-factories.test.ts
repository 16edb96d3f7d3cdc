import { describe, expect, it } from 'vitest';
import { Connection } from '../src/connection.js';
import { Consumer } from '../src/consumer.js';
import { Producer } from '../src/producer.js';
import { Queue } from '../src/queue.js';
import { fakeSetup, type FakeTransport } from './helpers/fake-transport.js';

describe('Connection.Producer and Connection.Consumer', () => {
  it('builds a Producer that publishes on the default channel', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const producer = conn.Producer({ routingKey: 'jobs', autoDeclare: false });
    expect(producer).toBeInstanceOf(Producer);
    const result = await producer.publish({ n: 1 });
    const channel = await conn.defaultChannel();
    expect(result.status).toBe('routed');
    expect(broker.published).toEqual([{ channelId: channel.channelId, exchange: '', routingKey: 'jobs', body: '{"n":1}' }]);
  });

  it('retries a publish through ensure after a connection error when retry is on', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.connect();
    broker.failPublishes = 1;
    const producer = conn.Producer({ routingKey: 'jobs', autoDeclare: false });
    const result = await producer.publish('again', { retry: true, retryPolicy: { maxRetries: 2, intervalStart: 0 } });
    expect(result.status).toBe('routed');
    expect(broker.published.map((p) => p.body)).toEqual(['again']);
    expect(broker.transports).toHaveLength(2);
  });

  it('builds a Consumer whose callbacks run when the connection drains', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const bodies: unknown[] = [];
    const consumer = conn.Consumer(new Queue('q'), { callbacks: [(body) => void bodies.push(body)], autoDeclare: false });
    expect(consumer).toBeInstanceOf(Consumer);
    await consumer.consume();
    const drained = conn.drainEvents({ timeout: 5 });
    await new Promise((resolve) => setImmediate(resolve));
    (broker.transports[0] as FakeTransport).deliverSoon('tag-c');
    await drained;
    expect(bodies).toEqual(['hi']);
    await conn.close();
  });

  it('wakes a hub.runUntil counting handled messages as soon as an async callback finishes', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const handled: string[] = [];
    const consumer = conn.Consumer(new Queue('q'), {
      callbacks: [
        async (_body, message) => {
          // Settled by a Node timer, as an ack is by a broker reply: not by a hub callback.
          await new Promise((resolve) => setTimeout(resolve, 20));
          handled.push(message.deliveryTag);
        },
      ],
      autoDeclare: false,
    });
    await consumer.consume();
    conn.registerWithEventLoop(conn.hub);
    (broker.transports[0] as FakeTransport).deliverSoon('tag-w');
    const started = performance.now();
    await expect(conn.hub.runUntil(() => handled.length === 1, { timeoutMs: 5_000 })).resolves.toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(handled).toEqual(['tag-w']);
    await conn.close();
  });
});
