import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigurationError, Connection, Consumer, Queue, type Channel, type ConsumerOptions, type Message } from '../src/index.js';
import { fakeSetup } from './helpers/fake-transport.js';
import { makeDelivery, VisibilityChannel } from './helpers/fake-channel.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A consumer whose callback holds each message until `release()`; `ackFirst` acks before waiting. */
function gatedConsumer(
  channel: Channel | { defaultChannel(): Promise<Channel>; visibilityTimeout?: number },
  keepAlive: ConsumerOptions['keepAlive'],
  options: { ackFirst?: boolean; noAck?: boolean } = {},
): { consumer: Consumer; release: () => void; started: Message[] } {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const started: Message[] = [];
  const consumer = new Consumer(channel, new Queue('q'), {
    keepAlive,
    ...(options.noAck ? { noAck: true } : {}),
    onMessage: async (message) => {
      started.push(message);
      if (options.ackFirst) await message.ack();
      await gate;
      if (!message.acknowledged) await message.ack();
    },
  });
  return { consumer, release: () => release(), started };
}

describe('Consumer keepAlive', () => {
  it('extends the visibility every interval by extendBy while the callback runs, and stops when it ends', async () => {
    const channel = new VisibilityChannel();
    const { consumer, release } = gatedConsumer(channel, { interval: 10, extendBy: 30 });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'ka-1' }));
    await vi.advanceTimersByTimeAsync(35_000);
    expect(channel.extended).toEqual([
      { tag: 'ka-1', seconds: 30 },
      { tag: 'ka-1', seconds: 30 },
      { tag: 'ka-1', seconds: 30 },
    ]);
    release();
    await consumer.whenIdle();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(channel.extended).toHaveLength(3);
    expect(channel.acks).toEqual(['ka-1']);
  });

  it("defaults to a third of the connection's visibility timeout, extending by the whole of it", async () => {
    const channel = new VisibilityChannel();
    const provider = { defaultChannel: async (): Promise<Channel> => channel, visibilityTimeout: 30 };
    const { consumer, release } = gatedConsumer(provider, true);
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'ka-2' }));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(channel.extended).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(channel.extended).toEqual([{ tag: 'ka-2', seconds: 30 }]);
    release();
    await consumer.whenIdle();
  });

  it('reads the visibility timeout from the connection URL (visibility_timeout, seconds)', () => {
    const { registry } = fakeSetup();
    expect(new Connection('fake://h:1/?visibility_timeout=30', { registry }).visibilityTimeout).toBe(30);
    expect(new Connection('fake://h:1/', { registry }).visibilityTimeout).toBeUndefined();
  });

  it('falls back to a 3600 s visibility timeout when the transport does not say', async () => {
    const channel = new VisibilityChannel();
    const { consumer, release } = gatedConsumer(channel, true);
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'ka-3' }));
    await vi.advanceTimersByTimeAsync(1_199_000);
    expect(channel.extended).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(channel.extended).toEqual([{ tag: 'ka-3', seconds: 3600 }]);
    release();
    await consumer.whenIdle();
  });

  it('stops extending once the callback has acked, even though it keeps running', async () => {
    const channel = new VisibilityChannel();
    const { consumer, release } = gatedConsumer(channel, { interval: 1, extendBy: 5 }, { ackFirst: true });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'ka-4' }));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(channel.acks).toEqual(['ka-4']);
    expect(channel.extended).toEqual([]);
    release();
    await consumer.whenIdle();
  });

  it('does nothing for a no-ack delivery, which no sweep can redeliver', async () => {
    const channel = new VisibilityChannel();
    const { consumer, release } = gatedConsumer(channel, { interval: 1 }, { noAck: true });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'ka-5' }));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(channel.extended).toEqual([]);
    release();
    await consumer.whenIdle();
  });

  it('reports a failed extension and tries again on the next tick', async () => {
    const channel = new VisibilityChannel();
    let failures = 1;
    const original = channel.extendVisibility.bind(channel);
    channel.extendVisibility = async (tag: string, seconds: number): Promise<void> => {
      if (failures-- > 0) throw new Error('redis went away');
      await original(tag, seconds);
    };
    const { consumer, release } = gatedConsumer(channel, { interval: 2, extendBy: 6 });
    const errors: string[] = [];
    consumer.on('error', (error) => void errors.push((error as Error).message));
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'ka-6' }));
    await vi.advanceTimersByTimeAsync(4_000);
    expect(errors).toEqual(['redis went away']);
    expect(channel.extended).toEqual([{ tag: 'ka-6', seconds: 6 }]);
    release();
    await consumer.whenIdle();
  });

  it('is off by default', async () => {
    const channel = new VisibilityChannel();
    const { consumer, release } = gatedConsumer(channel, undefined);
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'ka-7' }));
    await vi.advanceTimersByTimeAsync(7_200_000);
    expect(channel.extended).toEqual([]);
    release();
    await consumer.whenIdle();
  });

  it('rejects a non-positive interval naming the keepAlive option', () => {
    let caught: unknown;
    try {
      new Consumer(new VisibilityChannel(), new Queue('q'), { keepAlive: { interval: 0 } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigurationError);
    expect((caught as Error).message).toMatch(/keepAlive/);
  });
});
