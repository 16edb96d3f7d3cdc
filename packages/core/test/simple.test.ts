import { describe, expect, it, vi } from 'vitest';
import { OperationTimeoutError, SimpleBuffer, SimpleQueue } from '../src/index.js';
import { FakeChannel } from './helpers/fake-channel.js';

describe('SimpleQueue', () => {
  it('puts to a direct exchange named after the queue with the queue name as routing key', async () => {
    const channel = new FakeChannel();
    const queue = new SimpleQueue(channel, 'jobs');
    await queue.put({ job: 1 });
    expect(channel.exchangesDeclared.map((e) => [e.name, e.options.type])).toContainEqual(['jobs', 'direct']);
    expect(channel.binds).toEqual([{ queue: 'jobs', exchange: 'jobs', routingKey: 'jobs' }]);
    expect(channel.published.map((p) => [p.exchange, p.routingKey])).toEqual([['jobs', 'jobs']]);
  });

  it('gets the put messages in order through its consumer', async () => {
    const channel = new FakeChannel();
    const queue = new SimpleQueue(channel, 'jobs');
    await queue.put({ n: 1 });
    await queue.put({ n: 2 });
    const first = await queue.get({ timeout: 1 });
    const second = await queue.get({ timeout: 1 });
    expect([first.decode(), second.decode()]).toEqual([{ n: 1 }, { n: 2 }]);
    await first.ack();
    expect(channel.acks).toEqual([first.deliveryTag]);
  });

  it('throws OperationTimeoutError when nothing arrives in time', async () => {
    vi.useFakeTimers();
    try {
      const queue = new SimpleQueue(new FakeChannel(), 'empty');
      const outcome = expect(queue.get({ timeout: 0.5 })).rejects.toBeInstanceOf(OperationTimeoutError);
      await vi.advanceTimersByTimeAsync(501);
      await outcome;
    } finally {
      vi.useRealTimers();
    }
  });

  it('returns undefined from getNowait on an empty queue and a message otherwise', async () => {
    const channel = new FakeChannel();
    const queue = new SimpleQueue(channel, 'nw');
    expect(await queue.getNowait()).toBeUndefined();
    await queue.put('text body');
    const message = await queue.getNowait();
    expect(message?.decode()).toBe('text body');
  });

  it('counts waiting messages with qsize and removes them with clear', async () => {
    const channel = new FakeChannel();
    const queue = new SimpleQueue(channel, 'sz');
    await queue.put({ a: 1 });
    await queue.put({ a: 2 });
    expect(await queue.qsize()).toBe(2);
    expect(await queue.clear()).toBe(2);
    expect(await queue.qsize()).toBe(0);
  });

  it('restores locally buffered messages on close', async () => {
    const channel = new FakeChannel();
    const queue = new SimpleQueue(channel, 'cl');
    await queue.put({ n: 1 });
    await queue.put({ n: 2 });
    const first = await queue.get({ timeout: 1 });
    await queue.close();
    expect(channel.cancels).toHaveLength(1);
    expect(channel.restores).toHaveLength(1);
    expect(channel.restores[0]).not.toContain(first.deliveryTag);
    expect(channel.restores[0]).toHaveLength(1);
  });
});

describe('SimpleBuffer', () => {
  it('declares a non-durable auto-delete queue and publishes transient messages', async () => {
    const channel = new FakeChannel();
    const buffer = new SimpleBuffer(channel, 'buf');
    await buffer.put({ b: 1 });
    expect(channel.queuesDeclared[0]?.options).toMatchObject({ durable: false, autoDelete: true });
    expect(channel.published[0]?.message.properties.deliveryMode).toBe(1);
  });

  it('consumes without acknowledgements', async () => {
    const channel = new FakeChannel();
    const buffer = new SimpleBuffer(channel, 'buf2');
    await buffer.put({ b: 2 });
    const message = await buffer.get({ timeout: 1 });
    await message.ack();
    expect(message.delivery.noAck).toBe(true);
    expect(channel.acks).toEqual([]);
  });
});
