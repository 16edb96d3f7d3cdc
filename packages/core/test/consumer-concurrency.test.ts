import { describe, expect, it, vi } from 'vitest';
import { Consumer, Queue, type Message } from '../src/index.js';
import { FakeChannel, VisibilityChannel, makeDelivery } from './helpers/fake-channel.js';

/** A callback that records starts and finishes and holds each message until released by tag. */
function heldCallback(): {
  callback: (body: unknown, message: Message) => Promise<void>;
  release: (tag: string) => void;
  started: string[];
  finished: string[];
  inFlight: () => number;
  maxInFlight: () => number;
} {
  const gates = new Map<string, () => void>();
  const started: string[] = [];
  const finished: string[] = [];
  let running = 0;
  let peak = 0;
  return {
    started,
    finished,
    inFlight: () => running,
    maxInFlight: () => peak,
    release: (tag) => gates.get(tag)?.(),
    callback: async (_body, message) => {
      started.push(message.deliveryTag);
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => gates.set(message.deliveryTag, resolve));
      running--;
      finished.push(message.deliveryTag);
      await message.ack();
    },
  };
}

const tags = (prefix: string, count: number): string[] => Array.from({ length: count }, (_u, i) => `${prefix}-${i + 1}`);

describe('Consumer concurrency', () => {
  it('runs up to `concurrency` async callbacks at once and never more', async () => {
    const channel = new FakeChannel();
    const held = heldCallback();
    const consumer = new Consumer(channel, new Queue('q'), { callbacks: [held.callback], concurrency: 3 });
    await consumer.consume();
    for (const tag of tags('c', 10)) channel.deliver('q', makeDelivery({ deliveryTag: tag }));
    await vi.waitFor(() => expect(held.started).toEqual(['c-1', 'c-2', 'c-3']));
    held.release('c-2');
    await vi.waitFor(() => expect(held.started).toEqual(['c-1', 'c-2', 'c-3', 'c-4']));
    await vi.waitFor(() => {
      for (const tag of held.started) held.release(tag);
      expect(held.finished).toHaveLength(10);
    });
    await consumer.whenIdle();
    expect(held.maxInFlight()).toBe(3);
    expect(held.started).toEqual(tags('c', 10));
    expect([...channel.acks].sort()).toEqual([...tags('c', 10)].sort());
  });

  it('keeps strict delivery order at the default concurrency of 1', async () => {
    const channel = new FakeChannel();
    const order: string[] = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      callbacks: [
        async (_body, message) => {
          order.push(`start ${message.deliveryTag}`);
          await new Promise((resolve) => setTimeout(resolve, message.deliveryTag === 's-1' ? 20 : 1));
          order.push(`end ${message.deliveryTag}`);
          await message.ack();
        },
      ],
    });
    await consumer.consume();
    for (const tag of tags('s', 3)) channel.deliver('q', makeDelivery({ deliveryTag: tag }));
    await vi.waitFor(() => expect(channel.acks).toHaveLength(3));
    expect(order).toEqual(['start s-1', 'end s-1', 'start s-2', 'end s-2', 'start s-3', 'end s-3']);
  });

  it('asks for a prefetch of twice the concurrency unless told otherwise', async () => {
    const defaulted = new FakeChannel();
    await new Consumer(defaulted, new Queue('q'), { concurrency: 8 }).consume();
    expect(defaulted.qos).toEqual([16]);
    const explicit = new FakeChannel();
    await new Consumer(explicit, new Queue('q'), { concurrency: 8, prefetchCount: 4 }).consume();
    expect(explicit.qos).toEqual([4]);
    const single = new FakeChannel();
    await new Consumer(single, new Queue('q')).consume();
    expect(single.qos).toEqual([]);
  });

  it('refuses a concurrency below 1', () => {
    expect(() => new Consumer(new FakeChannel(), new Queue('q'), { concurrency: 0 })).toThrow(/concurrency/);
  });

  it('keeps the other callbacks running when one fails, and reports the failure', async () => {
    const channel = new FakeChannel();
    const errors: unknown[] = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      concurrency: 4,
      onError: (error) => errors.push(error),
      callbacks: [
        async (_body, message) => {
          await Promise.resolve();
          if (message.deliveryTag === 'e-2') throw new Error('boom e-2');
          await message.ack();
        },
      ],
    });
    await consumer.consume();
    for (const tag of tags('e', 4)) channel.deliver('q', makeDelivery({ deliveryTag: tag }));
    await consumer.whenIdle();
    expect([...channel.acks].sort()).toEqual(['e-1', 'e-3', 'e-4']);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('boom e-2');
  });

  it('cancel() hands back what no callback started and waits for every callback in flight', async () => {
    const channel = new FakeChannel();
    const held = heldCallback();
    const consumer = new Consumer(channel, new Queue('q'), { callbacks: [held.callback], concurrency: 2, tag: 'k' });
    await consumer.consume();
    for (const tag of tags('k', 5)) channel.deliver('q', makeDelivery({ deliveryTag: tag }));
    await vi.waitFor(() => expect(held.started).toEqual(['k-1', 'k-2']));
    let cancelled = false;
    const cancelling = consumer.cancel().then(() => (cancelled = true));
    await vi.waitFor(() => expect(channel.restores).toEqual([['k-3', 'k-4', 'k-5']]));
    held.release('k-1');
    await vi.waitFor(() => expect(channel.acks).toEqual(['k-1']));
    expect(cancelled).toBe(false);
    held.release('k-2');
    await cancelling;
    expect(channel.acks).toEqual(['k-1', 'k-2']);
    expect(held.started).toEqual(['k-1', 'k-2']);
  });

  it('keeps every message in flight visible: one keep-alive per running callback', async () => {
    vi.useFakeTimers();
    try {
      const channel = new VisibilityChannel();
      const extended = (): string[] => channel.extended.map((entry) => entry.tag);
      const held = heldCallback();
      const consumer = new Consumer(channel, new Queue('q'), {
        callbacks: [held.callback],
        concurrency: 3,
        keepAlive: { interval: 1, extendBy: 10 },
      });
      await consumer.consume();
      for (const tag of tags('v', 3)) channel.deliver('q', makeDelivery({ deliveryTag: tag }));
      await vi.advanceTimersByTimeAsync(1_000);
      expect([...extended()].sort()).toEqual(['v-1', 'v-2', 'v-3']);
      for (const tag of tags('v', 3)) held.release(tag);
      await vi.advanceTimersByTimeAsync(0);
      await consumer.whenIdle();
      channel.extended.length = 0;
      await vi.advanceTimersByTimeAsync(3_000);
      expect(channel.extended).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Consumer settleByOutcome', () => {
  async function run(
    callback: (body: unknown, message: Message) => void | Promise<void>,
    setup: (channel: FakeChannel) => void = () => {},
  ): Promise<{ channel: FakeChannel; errors: unknown[] }> {
    const channel = new FakeChannel();
    setup(channel);
    const errors: unknown[] = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      settleByOutcome: true,
      callbacks: [callback],
      onError: (error) => errors.push(error),
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'o-1', deliveryInfo: { exchange: '', routingKey: 'q', redelivered: false, queue: 'q' } }));
    await consumer.whenIdle();
    return { channel, errors };
  }

  it('acks a message whose async callback returns', async () => {
    const { channel, errors } = await run(async () => {
      await Promise.resolve();
    });
    expect(channel.acks).toEqual(['o-1']);
    expect(errors).toEqual([]);
  });

  it('acks a message whose synchronous callback returns', async () => {
    const { channel } = await run(() => {});
    expect(channel.acks).toEqual(['o-1']);
  });

  it('requeues a message whose callback throws, when its queue has no dead-letter routing', async () => {
    const { channel, errors } = await run(async () => {
      throw new Error('task failed');
    });
    expect(channel.acks).toEqual([]);
    expect(channel.rejects).toEqual([{ tag: 'o-1', requeue: true }]);
    expect((errors[0] as Error).message).toBe('task failed');
  });

  it('rejects without requeue (to the dead-letter list) when its queue has dead-letter routing', async () => {
    const { channel } = await run(
      () => {
        throw new Error('sync failure');
      },
      (fake) => {
        fake.deadLetters = (queue: string) => queue === 'q';
      },
    );
    expect(channel.rejects).toEqual([{ tag: 'o-1', requeue: false }]);
  });

  it('leaves alone a message the callback settled itself', async () => {
    const { channel } = await run(async (_body, message) => {
      await message.requeue();
    });
    expect(channel.acks).toEqual([]);
    expect(channel.rejects).toEqual([{ tag: 'o-1', requeue: true }]);
  });

  it('never acks a message whose content could not be decoded', async () => {
    const channel = new FakeChannel();
    const callback = vi.fn();
    const consumer = new Consumer(channel, new Queue('q'), { settleByOutcome: true, callbacks: [callback], onError: () => {} });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'bad-1', body: new TextEncoder().encode('{not json') }));
    await consumer.whenIdle();
    expect(callback).not.toHaveBeenCalled();
    expect(channel.acks).toEqual([]);
  });

  it('acks a message whose onMessage handler caught its own decode error and returned', async () => {
    const channel = new FakeChannel();
    const consumer = new Consumer(channel, new Queue('q'), {
      settleByOutcome: true,
      onMessage: (message) => {
        try {
          message.decode();
        } catch {
          // The handler's own choice: note it and move on.
        }
      },
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'caught-1', body: new TextEncoder().encode('{not json') }));
    await consumer.whenIdle();
    expect(channel.acks).toEqual(['caught-1']);
  });
});
