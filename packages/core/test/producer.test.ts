import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  ConfigurationError,
  EncodeError,
  Exchange,
  Producer,
  Queue,
  type Channel,
  type ConnectionLike,
  type RetryPolicy,
} from '../src/index.js';
import { FakeChannel } from './helpers/fake-channel.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

class FakeConnection implements ConnectionLike {
  readonly channel = new FakeChannel();
  readonly policies: Array<RetryPolicy & { signal?: AbortSignal }> = [];
  failuresLeft = 0;
  attempts = 0;

  async defaultChannel(): Promise<Channel> {
    return this.channel;
  }

  async ensure<T>(fn: (channel: Channel) => Promise<T>, policy?: RetryPolicy & { signal?: AbortSignal }): Promise<T> {
    this.policies.push(policy ?? {});
    for (;;) {
      this.attempts += 1;
      if (this.failuresLeft > 0) {
        this.failuresLeft -= 1;
        continue;
      }
      return fn(this.channel);
    }
  }
}

describe('Producer.publish', () => {
  it('hands basicPublish the json body, content type and Kombu default properties', async () => {
    const channel = new FakeChannel();
    const result = await new Producer(channel).publish({ hello: 'world', n: 1 }, { routingKey: 'q' });
    const [call] = channel.published;
    expect(call?.exchange).toBe('');
    expect(call?.routingKey).toBe('q');
    expect(text(call!.message.body)).toBe('{"hello":"world","n":1}');
    expect(call?.message.contentType).toBe('application/json');
    expect(call?.message.contentEncoding).toBe('utf-8');
    expect(call?.message.headers).toEqual({});
    expect(call?.message.properties).toEqual({ deliveryMode: 2, priority: 0 });
    expect(result.queues).toEqual(['q']);
  });

  it('stores expiration seconds as a millisecond string', async () => {
    const channel = new FakeChannel();
    const producer = new Producer(channel);
    await producer.publish({}, { expiration: 30 });
    await producer.publish({}, { expiration: 1.5 });
    expect(channel.published.map((p) => p.message.properties.expiration)).toEqual(['30000', '1500']);
  });

  it('copies named properties and headers, with extra properties first as Kombu orders them', async () => {
    const channel = new FakeChannel();
    await new Producer(channel).publish(
      { a: 1 },
      { headers: { 'x-custom': 'h1' }, correlationId: 'corr-1', replyTo: 'replyq', properties: { app_tag: 'z' } },
    );
    const message = channel.published[0]!.message;
    expect(message.headers).toEqual({ 'x-custom': 'h1' });
    expect(Object.keys(message.properties)).toEqual(['correlationId', 'replyTo', 'app_tag', 'deliveryMode', 'priority']);
  });

  it('sends further properties given in `properties` and refuses other names instead of sending them', async () => {
    const channel = new FakeChannel();
    await new Producer(channel).publish({}, { properties: { customTrace: 'abc', shard: 3 } });
    expect(channel.published[0]?.message.properties).toMatchObject({ customTrace: 'abc', shard: 3 });
    await expect(new Producer(channel).publish({}, { customTrace: 'abc' } as never)).rejects.toMatchObject({ option: 'customTrace' });
    await expect(new Producer(channel).publish({}, { correlationId: () => 1 } as never)).rejects.toMatchObject({ option: 'correlationId' });
    expect(channel.published).toHaveLength(1);
  });

  it('refuses Kombu\'s routing_key with a did-you-mean instead of sending it as a property', async () => {
    const channel = new FakeChannel();
    const refused = new Producer(channel).publish({}, { routing_key: 'x' } as never);
    await expect(refused).rejects.toBeInstanceOf(ConfigurationError);
    await expect(refused).rejects.toThrow('Unknown option `routing_key` for publish; did you mean `routingKey`?');
    expect(channel.published).toEqual([]);
  });

  it('takes the delivery mode from the option, else the exchange, else persistent', async () => {
    const channel = new FakeChannel();
    const producer = new Producer(channel, { exchange: new Exchange('ex', { deliveryMode: 'transient' }), autoDeclare: false });
    await producer.publish({}, {});
    await producer.publish({}, { deliveryMode: 'persistent' });
    await new Producer(channel).publish({});
    expect(channel.published.map((p) => p.message.properties.deliveryMode)).toEqual([1, 2, 2]);
  });

  it('rejects a priority outside 0..9 with a ConfigurationError naming priority', async () => {
    const channel = new FakeChannel();
    const producer = new Producer(channel);
    await expect(producer.publish({}, { priority: 10 })).rejects.toMatchObject({ option: 'priority' });
    await expect(producer.publish({}, { priority: 2.5 })).rejects.toBeInstanceOf(ConfigurationError);
    await producer.publish({}, { priority: 9 });
    expect(channel.published.map((p) => p.message.properties.priority)).toEqual([9]);
  });

  it('compresses the serialized body and records the header', async () => {
    const channel = new FakeChannel();
    await new Producer(channel, { compression: 'zlib' }).publish({ a: 1 }, { serializer: 'json' });
    const message = channel.published[0]!.message;
    expect(message.headers['compression']).toBe('application/x-gzip');
    expect(message.contentType).toBe('application/json');
    expect(Buffer.from(message.body.subarray(0, 2)).toString('hex')).toBe('789c');
  });

  it('publishes strings as text/plain and bytes as application/data without a serializer', async () => {
    const channel = new FakeChannel();
    const producer = new Producer(channel);
    await producer.publish('hi');
    await producer.publish(new Uint8Array([1, 2]));
    expect(channel.published.map((p) => [p.message.contentType, p.message.contentEncoding])).toEqual([
      ['text/plain', 'utf-8'],
      ['application/data', 'binary'],
    ]);
  });

  it('does not serialize a body published with an explicit content type', async () => {
    const channel = new FakeChannel();
    await new Producer(channel).publish('{"pre": 1}', { contentType: 'application/json' });
    const message = channel.published[0]!.message;
    expect(text(message.body)).toBe('{"pre": 1}');
    expect(message.contentEncoding).toBe('utf-8');
    await expect(new Producer(channel).publish({ a: 1 }, { contentType: 'application/json' })).rejects.toBeInstanceOf(EncodeError);
  });

  it('declares the declare list and its own exchange on the first publish only', async () => {
    const channel = new FakeChannel();
    const exchange = new Exchange('myex', { type: 'direct' });
    const producer = new Producer(channel, { exchange });
    const queue = new Queue('myq', { exchange, routingKey: 'myrk' });
    await producer.publish({ n: 1 }, { routingKey: 'myrk', declare: [queue] });
    const declaredAfterFirst = channel.exchangesDeclared.length;
    await producer.publish({ n: 2 }, { routingKey: 'myrk', declare: [queue] });
    // The queue's declaration re-declares its exchange (as Kombu's Queue.declare does); the
    // second publish declares nothing.
    expect(declaredAfterFirst).toBe(2);
    expect(channel.exchangesDeclared.map((e) => e.name)).toEqual(['myex', 'myex']);
    expect(channel.queuesDeclared.map((q) => q.name)).toEqual(['myq']);
    expect(channel.binds).toEqual([{ queue: 'myq', exchange: 'myex', routingKey: 'myrk' }]);
    expect(channel.published.map((p) => p.exchange)).toEqual(['myex', 'myex']);
  });

  it('publishes through the connection default channel and caches declarations per connection', async () => {
    const connection = new FakeConnection();
    const exchange = new Exchange('cx');
    await new Producer(connection, { exchange }).publish({});
    await new Producer(connection, { exchange }).publish({});
    expect(connection.channel.published).toHaveLength(2);
    expect(connection.channel.exchangesDeclared).toHaveLength(1);
  });

  it('runs a retried publish inside connection.ensure with the retry policy', async () => {
    const connection = new FakeConnection();
    connection.failuresLeft = 2;
    await new Producer(connection).publish({ r: 1 }, { retry: true, retryPolicy: { maxRetries: 3, intervalStart: 0 } });
    expect(connection.attempts).toBe(3);
    expect(connection.policies).toEqual([{ maxRetries: 3, intervalStart: 0 }]);
    expect(connection.channel.published).toHaveLength(1);
  });

  it('refuses retry on a producer built on a bare channel, naming the option', async () => {
    await expect(new Producer(new FakeChannel()).publish({}, { retry: true })).rejects.toMatchObject({ option: 'retry' });
  });

  it('publishes nothing when the signal is already aborted', async () => {
    const channel = new FakeChannel();
    const controller = new AbortController();
    controller.abort();
    await expect(new Producer(channel).publish({}, { signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
    expect(channel.published).toHaveLength(0);
  });

  it('uses msgpack when the producer names it', async () => {
    const channel = new FakeChannel();
    await new Producer(channel, { serializer: 'msgpack' }).publish({ a: 1 });
    const message = channel.published[0]!.message;
    expect(message.contentType).toBe('application/x-msgpack');
    expect(Buffer.from(message.body).toString('hex')).toBe('81a16101');
  });
});
