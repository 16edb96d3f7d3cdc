import { describe, expect, it, vi } from 'vitest';
import { ConfigurationError, Connection, Consumer, Queue, SimpleQueue } from '../src/index.js';
import { makeDelivery } from './helpers/fake-channel.js';
import { fakeSetup, type FakeChannel as TransportChannel } from './helpers/fake-transport.js';

describe('a Consumer on a bare channel with nothing running the hub', () => {
  it('throws a ConfigurationError from the iterator instead of hanging, naming both fixes', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const consumer = new Consumer(await conn.channel(), new Queue('q'), { tag: 'bare' });
    const caught = await consumer
      .messages()
      .next()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(caught).toBeInstanceOf(ConfigurationError);
    expect((caught as Error).message).toMatch(/build the Consumer on the Connection/);
    expect((caught as Error).message).toMatch(/conn\.hub/);
    expect(consumer.consuming).toBe(false);
    await conn.close({ timeout: 0 });
  });

  it('throws the same from SimpleQueue.get on a bare channel', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const simple = new SimpleQueue(await conn.channel(), 'sq');
    await expect(simple.get()).rejects.toBeInstanceOf(ConfigurationError);
    await conn.close({ timeout: 0 });
  });

  it('waits for the delivery when the connection hub is running', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const consumer = new Consumer(await conn.channel(), new Queue('q'));
    const running = conn.hub.runForever();
    try {
      const next = consumer.messages().next();
      const channel = broker.transports[0]?.channels[0] as TransportChannel;
      await vi.waitFor(() => expect(channel.consumers.size).toBe(1));
      for (const onDelivery of channel.consumers.values()) onDelivery(makeDelivery({ deliveryTag: 'hub-1' }));
      expect((await next).value?.deliveryTag).toBe('hub-1');
    } finally {
      conn.hub.stop();
      await running;
      await conn.close({ timeout: 0 });
    }
  });

  it('drives the hub itself when built on the Connection', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const consumer = conn.Consumer(new Queue('q'));
    const iterator = consumer.messages({ timeout: 5 });
    const next = iterator.next();
    await vi.waitFor(() => expect(broker.transports[0]?.hub).toBeDefined());
    broker.transports[0]?.deliverSoon('own-1');
    expect((await next).value?.deliveryTag).toBe('own-1');
    await iterator.return();
    await conn.close({ timeout: 0 });
  });
});
