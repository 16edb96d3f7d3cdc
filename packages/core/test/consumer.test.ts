import { describe, expect, it, vi } from 'vitest';
import {
  AbortedError,
  Consumer,
  ContentDisallowedError,
  Message,
  OperationTimeoutError,
  Queue,
  type Channel,
} from '../src/index.js';
import { FakeChannel, makeDelivery } from './helpers/fake-channel.js';

describe('Consumer with callbacks', () => {
  it('declares and consumes each queue, then calls callbacks with decoded bodies in order', async () => {
    const channel = new FakeChannel();
    const seen: Array<[string, unknown]> = [];
    const consumer = new Consumer(channel, [new Queue('a'), new Queue('b')], {
      callbacks: [(body) => void seen.push(['first', body]), (body) => void seen.push(['second', body])],
    });
    await consumer.consume();
    expect(channel.queuesDeclared.map((q) => q.name)).toEqual(['a', 'b']);
    channel.deliver('a', makeDelivery({ json: { n: 1 } }));
    channel.deliver('b', makeDelivery({ json: { n: 2 } }));
    expect(seen).toEqual([
      ['first', { n: 1 }],
      ['second', { n: 1 }],
      ['first', { n: 2 }],
      ['second', { n: 2 }],
    ]);
  });

  it('awaits an async callback before handling the next message', async () => {
    const channel = new FakeChannel();
    const events: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const consumer = new Consumer(channel, new Queue('q'), {
      callbacks: [
        async (body) => {
          const { n } = body as { n: number };
          events.push(`start ${n}`);
          if (n === 1) await gate;
          events.push(`end ${n}`);
        },
      ],
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ json: { n: 1 } }));
    channel.deliver('q', makeDelivery({ json: { n: 2 } }));
    expect(events).toEqual(['start 1']);
    release();
    await consumer.whenIdle();
    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('gives onMessage the undecoded Message instead of calling callbacks', async () => {
    const channel = new FakeChannel();
    const tags: string[] = [];
    const callback = vi.fn();
    const consumer = new Consumer(channel, new Queue('q'), {
      callbacks: [callback],
      onMessage: (message) => void tags.push(message.deliveryTag),
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'm-1' }));
    expect(tags).toEqual(['m-1']);
    expect(callback).not.toHaveBeenCalled();
  });

  it('passes a disallowed content type to onDecodeError and skips the callbacks', async () => {
    const channel = new FakeChannel();
    const failures: Array<[string, string]> = [];
    const callback = vi.fn();
    const consumer = new Consumer(channel, new Queue('q'), {
      accept: ['json'],
      callbacks: [callback],
      onDecodeError: (message, error) => void failures.push([message.deliveryTag, (error as Error).name]),
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'd-1', contentType: 'application/x-msgpack' }));
    expect(failures).toEqual([['d-1', 'ContentDisallowedError']]);
    expect(callback).not.toHaveBeenCalled();
  });

  it('reports a decode error to onError and leaves the message unacked when there is no onDecodeError', async () => {
    const channel = new FakeChannel();
    const errors: Array<[unknown, string | undefined]> = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      accept: ['json'],
      callbacks: [() => {}],
      onError: (error, message) => void errors.push([error, message?.deliveryTag]),
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'e-1', contentType: 'application/x-msgpack' }));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.[0]).toBeInstanceOf(ContentDisallowedError);
    expect(errors[0]?.[1]).toBe('e-1');
    expect(channel.acks).toEqual([]);
    expect(channel.rejects).toEqual([]);
  });

  it('reports a failing async callback to error listeners and keeps consuming', async () => {
    const channel = new FakeChannel();
    const seen: number[] = [];
    const errors: string[] = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      callbacks: [
        async (body) => {
          const { n } = body as { n: number };
          if (n === 1) throw new Error('boom 1');
          seen.push(n);
        },
      ],
    });
    consumer.on('error', (error) => void errors.push((error as Error).message));
    await consumer.consume();
    channel.deliver('q', makeDelivery({ json: { n: 1 } }));
    channel.deliver('q', makeDelivery({ json: { n: 2 } }));
    await consumer.whenIdle();
    expect(errors).toEqual(['boom 1']);
    expect(seen).toEqual([2]);
  });

  it('applies the prefetch count and the consumer tag prefix', async () => {
    const channel = new FakeChannel();
    const consumer = new Consumer(channel, [new Queue('a'), new Queue('b')], { prefetchCount: 10, tag: 'worker-' });
    await consumer.consume();
    expect(channel.qos).toEqual([10]);
    expect([...consumer.consumerTags.values()]).toEqual(['worker-1', 'worker-2']);
  });

  it('passes noAck to basicConsume so acks become no-ops', async () => {
    const channel = new FakeChannel();
    const messages: Message[] = [];
    const consumer = new Consumer(channel, new Queue('q'), { noAck: true, onMessage: (m) => void messages.push(m) });
    await consumer.consume();
    channel.deliver('q', makeDelivery());
    await messages[0]?.ack();
    expect(messages[0]?.delivery.noAck).toBe(true);
    expect(channel.acks).toEqual([]);
  });

  it('cancels every consumer tag', async () => {
    const channel = new FakeChannel();
    const consumer = new Consumer(channel, [new Queue('a'), new Queue('b')], { tag: 't' });
    await consumer.consume();
    await consumer.cancel();
    expect(channel.cancels).toEqual(['t1', 't2']);
    expect(consumer.consuming).toBe(false);
  });

  it('cancels one queue by name and drops it', async () => {
    const channel = new FakeChannel();
    const consumer = new Consumer(channel, [new Queue('a'), new Queue('b')], { tag: 't' });
    await consumer.consume();
    await consumer.cancelByQueue('a');
    expect(channel.cancels).toEqual(['t1']);
    expect(consumer.queues.map((q) => q.name)).toEqual(['b']);
    expect(consumer.consumingFrom('b')).toBe(true);
  });

  it('consumes an added queue at once when already consuming', async () => {
    const channel = new FakeChannel();
    const consumer = new Consumer(channel, new Queue('a'));
    await consumer.consume();
    await consumer.addQueue(new Queue('late'));
    expect(consumer.consumingFrom('late')).toBe(true);
    expect([...channel.consumers.values()].map((c) => c.queue)).toEqual(['a', 'late']);
  });

  it('purges every queue and recovers through the channel', async () => {
    const channel = new FakeChannel();
    channel.stored.set('a', [makeDelivery(), makeDelivery()]);
    channel.stored.set('b', [makeDelivery()]);
    const consumer = new Consumer(channel, [new Queue('a'), new Queue('b')]);
    expect(await consumer.purge()).toBe(3);
    await consumer.recover();
    expect(channel.recovers).toEqual([true]);
  });

  it('rejects a negative prefetch count naming the option', () => {
    expect(() => new Consumer(new FakeChannel(), new Queue('q'), { prefetchCount: -1 })).toThrowError(/`prefetchCount`/);
  });

  it('takes its channel from a connection', async () => {
    const channel = new FakeChannel();
    const connection = { defaultChannel: async (): Promise<Channel> => channel };
    const consumer = new Consumer(connection, new Queue('viaconn'));
    await consumer.consume();
    expect(consumer.channel).toBe(channel);
    expect(channel.queuesDeclared.map((q) => q.name)).toEqual(['viaconn']);
  });
});

describe('Consumer as an async iterator', () => {
  it('yields delivered messages and restores prefetched unprocessed ones on break', async () => {
    const channel = new FakeChannel();
    channel.stored.set('q', [
      makeDelivery({ deliveryTag: 'i-1' }),
      makeDelivery({ deliveryTag: 'i-2' }),
      makeDelivery({ deliveryTag: 'i-3' }),
    ]);
    const consumer = new Consumer(channel, new Queue('q'), { tag: 'it' });
    const seen: string[] = [];
    for await (const message of consumer) {
      seen.push(message.deliveryTag);
      await message.ack();
      break;
    }
    expect(seen).toEqual(['i-1']);
    expect(channel.acks).toEqual(['i-1']);
    expect(channel.cancels).toEqual(['it1']);
    expect(channel.restores).toEqual([['i-2', 'i-3']]);
  });

  it('waits for the next delivery when the buffer is empty', async () => {
    const channel = new FakeChannel();
    const consumer = new Consumer(channel, new Queue('q'));
    const iterator = consumer.messages();
    const next = iterator.next();
    await vi.waitFor(() => expect(channel.consumers.size).toBe(1));
    channel.deliver('q', makeDelivery({ deliveryTag: 'late-1' }));
    const result = await next;
    expect(result.value?.deliveryTag).toBe('late-1');
    await iterator.return();
    expect(channel.restores).toEqual([]);
  });

  it('throws OperationTimeoutError when no message comes within the timeout, and cancels', async () => {
    vi.useFakeTimers();
    try {
      const channel = new FakeChannel();
      const consumer = new Consumer(channel, new Queue('q'), { tag: 'to' });
      const next = consumer.messages({ timeout: 2 }).next();
      const outcome = expect(next).rejects.toBeInstanceOf(OperationTimeoutError);
      await vi.advanceTimersByTimeAsync(2001);
      await outcome;
      expect(channel.cancels).toEqual(['to1']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stops with AbortedError when its signal aborts, restoring what was buffered', async () => {
    const channel = new FakeChannel();
    const controller = new AbortController();
    const consumer = new Consumer(channel, new Queue('q'));
    const iterator = consumer.messages({ signal: controller.signal });
    const next = iterator.next();
    await vi.waitFor(() => expect(channel.consumers.size).toBe(1));
    controller.abort();
    await expect(next).rejects.toBeInstanceOf(AbortedError);
    expect(channel.cancels).toHaveLength(1);
  });

  it('drives drainEvents on a connection whose hub is not running', async () => {
    const channel = new FakeChannel();
    const drains: Array<number | undefined> = [];
    const connection = {
      hub: { running: false },
      defaultChannel: async (): Promise<Channel> => channel,
      drainEvents: async (options?: { timeout?: number }): Promise<void> => {
        drains.push(options?.timeout);
        channel.deliver('q', makeDelivery({ deliveryTag: 'drained-1' }));
      },
    };
    const consumer = new Consumer(connection, new Queue('q'));
    const iterator = consumer.messages();
    const result = await iterator.next();
    await iterator.return();
    expect(result.value?.deliveryTag).toBe('drained-1');
    expect(drains).toEqual([undefined]);
  });

  it('refuses a second iterator while one is active', () => {
    const consumer = new Consumer(new FakeChannel(), new Queue('q'));
    consumer.messages();
    expect(() => consumer.messages()).toThrowError(/already being iterated/);
  });
});
