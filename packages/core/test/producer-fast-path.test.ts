/**
 * The publish fast path (issue 5): options checked by hand instead of zod, no async layers on a
 * channel with nothing to declare. These tests pin that it accepts and rejects exactly what the
 * schema does and that a warm publish reaches the channel within the call.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Exchange, Producer, type PublishOptions } from '../src/index.js';
import { FakeChannel } from './helpers/fake-channel.js';

/** Option values that are right, wrong or borderline for some validated option. */
const CASES: ReadonlyArray<[keyof PublishOptions, unknown, boolean]> = [
  ['routingKey', '', true],
  ['routingKey', 'q', true],
  ['routingKey', 5, false],
  ['priority', 0, true],
  ['priority', 9, true],
  ['priority', 10, false],
  ['priority', -1, false],
  ['priority', 1.5, false],
  ['priority', Number.NaN, false],
  ['priority', '3', false],
  ['expiration', 0, true],
  ['expiration', 2.5, true],
  ['expiration', -1, false],
  ['expiration', Number.POSITIVE_INFINITY, false],
  ['expiration', '30', false],
  ['deliveryMode', 1, true],
  ['deliveryMode', 'transient', true],
  ['deliveryMode', 3, false],
  ['deliveryMode', 'durable', false],
  ['serializer', 'json', true],
  ['serializer', '', false],
  ['compression', '', false],
  ['contentType', '', false],
  ['contentEncoding', 7, false],
];

describe('publish option checks', () => {
  it.each(CASES)('treats %s = %j as valid: %s', async (name, value, valid) => {
    const channel = new FakeChannel();
    const body = name === 'contentType' || name === 'contentEncoding' ? 'text' : { n: 1 };
    const outcome = await new Producer(channel).publish(body, { [name]: value }).then(
      () => 'published',
      (error: unknown) => (error instanceof ConfigurationError ? `invalid ${error.option}` : `other ${String(error)}`),
    );
    expect(outcome).toBe(valid ? 'published' : `invalid ${name}`);
  });
});

describe('publish on a channel', () => {
  it('hands the message to the channel before publish returns', () => {
    const channel = new FakeChannel();
    void new Producer(channel).publish({ n: 1 }, { routingKey: 'q' });
    expect(channel.published.map((p) => p.routingKey)).toEqual(['q']);
  });

  it('keeps the headers it was given even when the caller changes its object afterwards', async () => {
    const channel = new FakeChannel();
    const producer = new Producer(channel);
    const headers: Record<string, number> = { seq: 1 };
    const first = producer.publish({}, { routingKey: 'q', headers });
    headers.seq = 2;
    await Promise.all([first, producer.publish({}, { routingKey: 'q', headers })]);
    expect(channel.published.map((p) => p.message.headers.seq)).toEqual([1, 2]);
  });

  it('declares its exchange on the first publish only', async () => {
    const channel = new FakeChannel();
    const producer = new Producer(channel, { exchange: new Exchange('fx-once', { type: 'direct' }) });
    await producer.publish({ n: 1 }, { routingKey: 'a' });
    await producer.publish({ n: 2 }, { routingKey: 'a' });
    await producer.publish({ n: 3 }, { routingKey: 'a' });
    expect([channel.exchangesDeclared.map((e) => e.name), channel.published.length]).toEqual([['fx-once'], 3]);
  });

  it('rejects, never throws, when the body cannot be encoded', async () => {
    const channel = new FakeChannel();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const promise = new Producer(channel).publish(cyclic, { routingKey: 'q' });
    await expect(promise).rejects.toMatchObject({ name: 'EncodeError' });
    expect(channel.published).toEqual([]);
  });
});
