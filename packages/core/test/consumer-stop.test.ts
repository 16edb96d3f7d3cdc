import { afterEach, describe, expect, it, vi } from 'vitest';
import { Connection, Consumer, ConsumerWorker, Queue, type Channel, type Delivery, type Message } from '../src/index.js';
import { FakeChannel, makeDelivery } from './helpers/fake-channel.js';
import { fakeSetup, type FakeChannel as TransportChannel } from './helpers/fake-transport.js';

afterEach(() => {
  vi.useRealTimers();
});

/** onMessage that records starts and holds every message until `release()`, then acks it. */
function gate(): { onMessage: (message: Message) => Promise<void>; release: () => void; started: string[] } {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const started: string[] = [];
  return {
    started,
    release: () => release(),
    onMessage: async (message) => {
      started.push(message.deliveryTag);
      await held;
      await message.ack();
    },
  };
}

/** Records each basicRestore call's tags (the transport fake does not). */
function recordRestores(channel: Channel): string[][] {
  const restores: string[][] = [];
  vi.spyOn(channel, 'basicRestore').mockImplementation(async (tags) => void restores.push([...tags]));
  return restores;
}

describe('Consumer.cancel is graceful', () => {
  it('restores queued messages at once, then waits for the callback in progress to finish', async () => {
    const channel = new FakeChannel();
    const { onMessage, release, started } = gate();
    const consumer = new Consumer(channel, new Queue('q'), { onMessage, tag: 'g' });
    await consumer.consume();
    for (const tag of ['g-1', 'g-2', 'g-3']) channel.deliver('q', makeDelivery({ deliveryTag: tag }));
    let cancelled = false;
    const cancelling = consumer.cancel().then(() => (cancelled = true));
    await vi.waitFor(() => expect(channel.restores).toEqual([['g-2', 'g-3']]));
    expect(channel.cancels).toEqual(['g1']);
    expect(cancelled).toBe(false);
    release();
    await cancelling;
    expect(channel.acks).toEqual(['g-1']);
    expect(started).toEqual(['g-1']);
  });

  it('gives up waiting after the timeout and leaves the stuck message unacked', async () => {
    vi.useFakeTimers();
    const channel = new FakeChannel();
    const { onMessage } = gate();
    const consumer = new Consumer(channel, new Queue('q'), { onMessage });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'st-1' }));
    let cancelled = false;
    const cancelling = consumer.cancel({ timeout: 2 }).then(() => (cancelled = true));
    await vi.advanceTimersByTimeAsync(1_999);
    expect(cancelled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await cancelling;
    expect(cancelled).toBe(true);
    expect(channel.acks).toEqual([]);
  });

  it('does not wait for itself when a callback cancels its own consumer', async () => {
    const channel = new FakeChannel();
    const consumer: Consumer = new Consumer(channel, new Queue('q'), {
      onMessage: async (message) => {
        await consumer.cancel();
        await message.ack();
      },
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'self-1' }));
    await vi.waitFor(() => expect(channel.acks).toEqual(['self-1']), { timeout: 1_000 });
    expect(consumer.consuming).toBe(false);
  });

  it('hands a delivery that races the cancel straight back instead of running callbacks', async () => {
    const channel = new FakeChannel();
    const seen: string[] = [];
    const consumer = new Consumer(channel, new Queue('q'), { onMessage: (m) => void seen.push(m.deliveryTag) });
    await consumer.consume();
    const onDelivery = [...channel.consumers.values()][0]?.options.onDelivery as (d: Delivery) => void;
    await consumer.cancel();
    onDelivery(makeDelivery({ deliveryTag: 'late-1' }));
    await vi.waitFor(() => expect(channel.restores).toEqual([['late-1']]));
    expect(seen).toEqual([]);
  });

  it('still handles queued no-ack deliveries, which the broker can no longer take back', async () => {
    const channel = new FakeChannel();
    const { onMessage, release, started } = gate();
    const consumer = new Consumer(channel, new Queue('q'), { onMessage, noAck: true });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'n-1' }));
    channel.deliver('q', makeDelivery({ deliveryTag: 'n-2' }));
    const cancelling = consumer.cancel();
    release();
    await cancelling;
    expect(channel.restores).toEqual([]);
    expect(started).toEqual(['n-1', 'n-2']);
  });
});

describe('Consumer.cancel while iterating', () => {
  it('ends a waiting for-await loop instead of leaving it hanging', async () => {
    const channel = new FakeChannel();
    const consumer = new Consumer(channel, new Queue('q'), { tag: 'w' });
    const iterator = consumer.messages();
    const next = iterator.next();
    await vi.waitFor(() => expect(channel.consumers.size).toBe(1));
    await consumer.cancel();
    expect(await next).toEqual({ value: undefined, done: true });
    expect(channel.cancels).toEqual(['w1']);
  });

  it('hands back the messages the loop has not taken yet', async () => {
    const channel = new FakeChannel();
    channel.stored.set('q', ['x-1', 'x-2', 'x-3'].map((deliveryTag) => makeDelivery({ deliveryTag })));
    const consumer = new Consumer(channel, new Queue('q'));
    const iterator = consumer.messages();
    const first = await iterator.next();
    expect(first.value?.deliveryTag).toBe('x-1');
    await consumer.cancel();
    expect(channel.restores).toEqual([['x-2', 'x-3']]);
    expect((await iterator.next()).done).toBe(true);
  });
});

describe('Connection.close is graceful', () => {
  async function setup(): Promise<{ conn: Connection; channel: TransportChannel; restores: string[][]; deliver: (tag: string) => void }> {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.defaultChannel();
    const channel = broker.transports[0]?.channels[0] as TransportChannel;
    const restores = recordRestores(channel);
    const deliver = (tag: string): void => {
      for (const onDelivery of channel.consumers.values()) onDelivery(makeDelivery({ deliveryTag: tag }));
    };
    return { conn, channel, restores, deliver };
  }

  it('restores prefetched messages, lets the callback in progress ack, then closes the channel', async () => {
    const { conn, channel, restores, deliver } = await setup();
    const { onMessage, release } = gate();
    await conn.Consumer(new Queue('q'), { onMessage }).consume();
    for (const tag of ['c-1', 'c-2', 'c-3']) deliver(tag);
    const closing = conn.close();
    await vi.waitFor(() => expect(restores).toEqual([['c-2', 'c-3']]));
    expect(channel.state).toBe('open');
    release();
    await closing;
    expect(channel.acked).toEqual(['c-1']);
    expect(channel.state).toBe('closed');
    expect(conn.state).toBe('closed');
  });

  it('closes after the timeout when a callback does not finish', async () => {
    const { conn, channel, deliver } = await setup();
    const { onMessage, started } = gate();
    await conn.Consumer(new Queue('q'), { onMessage }).consume();
    deliver('stuck-1');
    const startedAt = performance.now();
    await conn.close({ timeout: 0.05 });
    expect(performance.now() - startedAt).toBeLessThan(2_000);
    expect(started).toEqual(['stuck-1']);
    expect(channel.acked).toEqual([]);
    expect(channel.state).toBe('closed');
  });

  it('ends a for-await loop that is waiting on the connection', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const iterator = conn.Consumer(new Queue('q')).messages();
    const next = iterator.next();
    await vi.waitFor(() => expect(broker.transports[0]?.hub).toBeDefined());
    await conn.close();
    expect(await next).toEqual({ value: undefined, done: true });
    expect(conn.state).toBe('closed');
  });

  it('stops consumers built on a bare channel of the connection too', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const bare = await conn.channel();
    const { onMessage, release } = gate();
    await new Consumer(bare, new Queue('q'), { onMessage }).consume();
    const channel = broker.transports[0]?.channels[0] as TransportChannel;
    const restores = recordRestores(channel);
    for (const onDelivery of channel.consumers.values()) {
      onDelivery(makeDelivery({ deliveryTag: 'b-1' }));
      onDelivery(makeDelivery({ deliveryTag: 'b-2' }));
    }
    const closing = conn.close();
    await vi.waitFor(() => expect(restores).toEqual([['b-2']]));
    release();
    await closing;
    expect(channel.acked).toEqual(['b-1']);
  });
});

describe('ConsumerWorker.stop is graceful', () => {
  it('restores the queued message and lets the running callback ack before closing the channel', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const { onMessage, release, started } = gate();
    let workerChannel: Channel | undefined;
    const worker = new ConsumerWorker(conn, {
      getConsumers: (channel) => {
        workerChannel = channel;
        return [new Consumer(channel, new Queue('q'), { onMessage })];
      },
      safetyInterval: 0.02,
    });
    const running = worker.run();
    await vi.waitFor(() => expect((workerChannel as TransportChannel | undefined)?.consumers.size).toBe(1));
    const channel = workerChannel as TransportChannel;
    const restores = recordRestores(channel);
    for (const onDelivery of channel.consumers.values()) {
      onDelivery(makeDelivery({ deliveryTag: 'w-1' }));
      onDelivery(makeDelivery({ deliveryTag: 'w-2' }));
    }
    expect(started).toEqual(['w-1']);
    const stopping = worker.stop();
    await vi.waitFor(() => expect(restores).toEqual([['w-2']]));
    expect(channel.state).toBe('open');
    release();
    await stopping;
    await running;
    expect(channel.acked).toEqual(['w-1']);
    expect(channel.state).toBe('closed');
    expect(broker.transports).toHaveLength(1);
    await conn.close();
  });
});
