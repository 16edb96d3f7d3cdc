import { describe, expect, it } from 'vitest';
import {
  Binding,
  ConfigurationError,
  Exchange,
  forgetDeclarations,
  maybeDeclare,
  NotBoundError,
  Queue,
} from '../src/index.js';
import { declaredEntities } from '../src/maybe-declare.js';
import { FakeChannel } from './helpers/fake-channel.js';

describe('Exchange', () => {
  it('defaults to a durable direct exchange', () => {
    const exchange = new Exchange('ex');
    expect([exchange.type, exchange.durable, exchange.autoDelete]).toEqual(['direct', true, false]);
  });

  it('rejects an unknown type with a ConfigurationError naming `type` and the accepted values', () => {
    let caught: unknown;
    try {
      new Exchange('ex', { type: 'headers' as 'direct' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigurationError);
    expect((caught as ConfigurationError).option).toBe('type');
    expect((caught as ConfigurationError).message).toMatch(/direct.*topic.*fanout/);
  });

  it('declares through its bound channel with its type and flags', async () => {
    const channel = new FakeChannel();
    await new Exchange('tx', { type: 'topic', durable: false }).bind(channel).declare();
    expect(channel.exchangesDeclared).toEqual([
      { name: 'tx', options: { type: 'topic', durable: false, autoDelete: false, passive: false } },
    ]);
  });

  it('never declares the default exchange or amq.* exchanges', async () => {
    const channel = new FakeChannel();
    await new Exchange('').declare({ channel });
    await new Exchange('amq.direct').declare({ channel });
    expect(channel.exchangesDeclared).toEqual([]);
  });

  it('throws NotBoundError when used without a channel', async () => {
    await expect(new Exchange('ex').declare()).rejects.toThrowError(
      "Exchange 'ex' is not bound to a channel; call exchange.bind(channel) or pass a channel",
    );
  });

  it('maps the delivery mode aliases', () => {
    expect(new Exchange('a', { deliveryMode: 'transient' }).deliveryMode).toBe(1);
    expect(new Exchange('b', { deliveryMode: 'persistent' }).deliveryMode).toBe(2);
  });
});

describe('Queue', () => {
  it('throws NotBoundError naming the queue when used unbound', async () => {
    await expect(new Queue('q').purge()).rejects.toThrowError(
      new NotBoundError("Queue 'q' is not bound to a channel; call queue.bind(channel) or pass a channel"),
    );
  });

  it('declares its exchange, itself and its main binding', async () => {
    const channel = new FakeChannel();
    const exchange = new Exchange('ex', { type: 'direct' });
    await new Queue('q', { exchange, routingKey: 'rk' }).bind(channel).declare();
    expect(channel.exchangesDeclared.map((e) => e.name)).toEqual(['ex']);
    expect(channel.queuesDeclared.map((q) => q.name)).toEqual(['q']);
    expect(channel.binds).toEqual([{ queue: 'q', exchange: 'ex', routingKey: 'rk' }]);
  });

  it('skips the binding for the default exchange', async () => {
    const channel = new FakeChannel();
    await new Queue('plain').declare({ channel });
    expect(channel.binds).toEqual([]);
    expect(channel.queuesDeclared.map((q) => q.name)).toEqual(['plain']);
  });

  it('declares every binding of a multi-binding queue', async () => {
    const channel = new FakeChannel();
    const news = new Exchange('news', { type: 'topic' });
    const queue = new Queue('q', { bindings: [new Binding(news, 'a.#'), new Binding(news, 'b.*')] });
    await queue.declare({ channel });
    expect(queue.exchange).toBeUndefined();
    expect(channel.binds.map((b) => b.routingKey)).toEqual(['a.#', 'b.*']);
  });

  it('rejects an out-of-range maxPriority naming the option', () => {
    expect(() => new Queue('bad', { maxPriority: -1 })).toThrowError(ConfigurationError);
    expect(() => new Queue('bad', { maxPriority: 1.5 })).toThrowError(/`maxPriority`/);
  });

  it('makes an exclusive queue auto-delete', () => {
    expect(new Queue('x', { exclusive: true }).autoDelete).toBe(true);
  });

  it('takes the broker-generated name when declared anonymously', async () => {
    const channel = new FakeChannel();
    const queue = new Queue('').bind(channel);
    await queue.declare();
    expect(queue.name).toBe('amq.gen-1');
  });

  it('passes maxPriority and queue arguments to queueDeclare', async () => {
    const channel = new FakeChannel();
    await new Queue('p', { maxPriority: 9, queueArguments: { 'x-foo': 1 } }).queueDeclare({ channel });
    expect(channel.queuesDeclared[0]?.options).toMatchObject({ maxPriority: 9, arguments: { 'x-foo': 1 } });
  });

  it('gets a waiting message as a Message, and undefined when empty', async () => {
    const channel = new FakeChannel();
    await channel.basicPublish(
      { body: new TextEncoder().encode('{"k": 1}'), contentType: 'application/json', contentEncoding: 'utf-8', headers: {}, properties: {} },
      '',
      'g',
    );
    const queue = new Queue('g').bind(channel);
    const message = await queue.get();
    expect(message?.decode()).toEqual({ k: 1 });
    expect(await queue.get()).toBeUndefined();
  });

  it('binds to and unbinds from an exchange by name', async () => {
    const channel = new FakeChannel();
    const queue = new Queue('q').bind(channel);
    await queue.bindTo('ex', 'k1');
    await queue.unbindFrom(new Exchange('ex'), 'k1');
    expect(channel.binds).toEqual([{ queue: 'q', exchange: 'ex', routingKey: 'k1' }]);
    expect(channel.unbinds).toEqual([{ queue: 'q', exchange: 'ex', routingKey: 'k1' }]);
  });
});

describe('maybeDeclare', () => {
  it('declares an entity once per owner', async () => {
    const channel = new FakeChannel();
    const owner = {};
    const exchange = new Exchange('cached');
    expect(await maybeDeclare(exchange, channel, owner)).toBe(true);
    expect(await maybeDeclare(exchange, channel, owner)).toBe(false);
    expect(channel.exchangesDeclared).toHaveLength(1);
    expect([...declaredEntities(owner)]).toEqual(['E|cached']);
  });

  it('declares again after the owner forgets its declarations', async () => {
    const channel = new FakeChannel();
    const owner = {};
    const queue = new Queue('forget-me');
    await maybeDeclare(queue, channel, owner);
    forgetDeclarations(owner);
    expect(await maybeDeclare(queue, channel, owner)).toBe(true);
    expect(channel.queuesDeclared).toHaveLength(2);
  });

  it('declares again for another owner', async () => {
    const channel = new FakeChannel();
    const queue = new Queue('q2');
    await maybeDeclare(queue, channel, {});
    await maybeDeclare(queue, channel, {});
    expect(channel.queuesDeclared).toHaveLength(2);
  });

  it('never caches an auto-delete queue', async () => {
    const channel = new FakeChannel();
    const queue = new Queue('tmp', { autoDelete: true });
    await maybeDeclare(queue, channel);
    await maybeDeclare(queue, channel);
    expect(channel.queuesDeclared).toHaveLength(2);
  });

  it('shares one declaration between concurrent calls', async () => {
    const channel = new FakeChannel();
    const queue = new Queue('race');
    const results = await Promise.all([maybeDeclare(queue, channel), maybeDeclare(queue, channel)]);
    expect(results.sort()).toEqual([false, true]);
    expect(channel.queuesDeclared).toHaveLength(1);
  });
});
