import { afterEach, describe, expect, it, vi } from 'vitest';
import { Connection } from '../src/connection.js';
import type { Channel } from '../src/transport.js';
import { ConsumerWorker, TokenBucket } from '../src/worker.js';
import { fakeSetup, type FakeBroker, type FakeTransport } from './helpers/fake-transport.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A minimal consumer: what ConsumerWorker needs, recording what happens to it. */
class RecordingConsumer {
  tag: string | undefined;
  cancelled = false;
  constructor(
    readonly channel: Channel,
    readonly received: string[],
  ) {}
  async consume(): Promise<void> {
    this.tag = await this.channel.basicConsume('q', { onDelivery: (d) => this.received.push(d.deliveryTag) });
  }
  async cancel(): Promise<void> {
    this.cancelled = true;
    if (this.tag) await this.channel.basicCancel(this.tag);
  }
}

const latestTransport = (broker: FakeBroker): FakeTransport => broker.transports[broker.transports.length - 1] as FakeTransport;

describe('ConsumerWorker', () => {
  it('consumes, survives a lost connection by rebuilding its consumers, and stops cleanly', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const received: string[] = [];
    const consumers: RecordingConsumer[] = [];
    const errors: string[] = [];
    let ready = 0;
    const worker = new ConsumerWorker(conn, {
      getConsumers: (channel) => {
        const consumer = new RecordingConsumer(channel, received);
        consumers.push(consumer);
        return [consumer];
      },
      onConsumeReady: () => ready++,
      onConnectionError: (error) => errors.push(error.message),
      safetyInterval: 0.02,
    });
    const running = worker.run();
    await vi.waitFor(() => expect(ready).toBe(1));
    latestTransport(broker).deliverSoon('m1');
    await vi.waitFor(() => expect(received).toEqual(['m1']));

    const first = latestTransport(broker);
    first.hub?.callSoon(() => first.emit('connectionLost', new Error('ECONNRESET')));
    await vi.waitFor(() => expect(ready).toBe(2));
    expect(worker.restarts).toBe(1);
    expect(errors).toEqual(['The connection was lost while draining events: ECONNRESET']);
    expect(consumers[0]?.cancelled).toBe(true);
    expect(first.state).toBe('closed');

    latestTransport(broker).deliverSoon('m2');
    await vi.waitFor(() => expect(received).toEqual(['m1', 'm2']));

    await worker.stop();
    await running;
    expect(worker.state).toBe('stopped');
    expect(consumers[1]?.cancelled).toBe(true);
    expect(latestTransport(broker).channels.map((c) => c.state)).toEqual(['closed']);
  });

  it('reconnects with backoff when the broker is down at start', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    broker.failConnects = 2;
    const conn = new Connection('fake://h:1/', { registry });
    const intervals: number[] = [];
    let ready = 0;
    const worker = new ConsumerWorker(conn, {
      getConsumers: () => [],
      onConsumeReady: () => ready++,
      onConnectionError: (_e, interval) => intervals.push(interval),
      retryPolicy: { intervalStart: 1, intervalStep: 1 },
      safetyInterval: 0.5,
    });
    const running = worker.run();
    await vi.advanceTimersByTimeAsync(3000);
    expect(ready).toBe(1);
    expect(intervals).toEqual([1, 2]);
    expect(broker.attempts).toHaveLength(3);
    const stopped = worker.stop();
    await vi.advanceTimersByTimeAsync(1000);
    await stopped;
    await running;
    expect(worker.state).toBe('stopped');
  });

  it('rejects with errors that are not connection errors', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const worker = new ConsumerWorker(conn, {
      getConsumers: () => {
        throw new TypeError('bad consumer factory');
      },
    });
    await expect(worker.run()).rejects.toThrow('bad consumer factory');
    expect(worker.state).toBe('stopped');
  });

  it('stops when the run signal aborts', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const controller = new AbortController();
    let ready = 0;
    const worker = new ConsumerWorker(conn, { getConsumers: () => [], onConsumeReady: () => ready++, safetyInterval: 0.02 });
    const running = worker.run({ signal: controller.signal });
    await vi.waitFor(() => expect(ready).toBe(1));
    controller.abort();
    await running;
    expect(worker.state).toBe('stopped');
  });
});

describe('TokenBucket', () => {
  it('allows a burst of capacity and then one token per 1/rate seconds', () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket(1, 2);
    expect([bucket.canConsume(), bucket.canConsume(), bucket.canConsume()]).toEqual([true, true, false]);
    expect(bucket.expectedTime()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(bucket.canConsume()).toBe(true);
  });
});
