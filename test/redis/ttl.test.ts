/**
 * Message TTL on Redis at the key level (docs/wire-format.md#message-ttl): the publish script
 * stamps the deadline only for queues whose argument hash holds x-message-ttl, and the pop script
 * settles an expired message inside the pop, so it is never recorded in `unacked`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineScripts, popAndRecord } from '../../packages/transport-redis/src/scripts.js';
import { SEP, message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
  defineScripts(fx.redis);
});
afterAll(() => fx.close());

const DROPPED = '_kelp.dropped.expired';
const STAMP = /^\{"x-kelp-expires-at":(\d+),/;

const envelope = (tag: string, properties: Record<string, unknown> = {}): string =>
  JSON.stringify({
    body: 'eyJhIjogMX0=',
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {},
    properties: { ...properties, delivery_info: { exchange: '', routing_key: 'q' }, priority: 0, body_encoding: 'base64', delivery_tag: tag },
  });
const stamped = (deadlineMs: number, tag: string): string => `{"x-kelp-expires-at":${deadlineMs},${envelope(tag).slice(1)}`;
const popKeys = (queue: string) => ({
  unacked: 'unacked',
  unackedIndex: 'unacked_index',
  queues: [[queue, `${queue}${SEP}dead`] as const],
  expiredDropped: DROPPED,
});

describe('the pop script', () => {
  it('drops and counts an expired message without recording it, and takes the next one in the same call', async () => {
    const now = Date.now() / 1000;
    await fx.redis.lpush('pop.drop', stamped(Date.now() - 1, 'gone'), envelope('kept'));
    const got = await popAndRecord(fx.redis, popKeys('pop.drop'), { now, limit: 1, record: true });
    expect(got).toEqual([
      { kind: 'expired', key: 'pop.drop', deadLettered: false },
      { kind: 'message', key: 'pop.drop', payload: envelope('kept'), deliveryTag: 'kept' },
    ]);
    expect(await fx.redis.hexists('unacked', 'gone')).toBe(0);
    expect(await fx.redis.zscore('unacked_index', 'gone')).toBeNull();
    expect(await fx.redis.hget(DROPPED, `pop.drop${SEP}dead`)).toBe('1');
  });

  it('dead-letters an expired message with reason expired where the flag says the queue has routing', async () => {
    const payload = stamped(Date.now() - 1, 'dl');
    await fx.redis.lpush('pop.dl', payload);
    const got = await popAndRecord(fx.redis, popKeys('pop.dl'), { now: Date.now() / 1000, limit: 1, record: true, deadLetterFlags: '1' });
    expect(got).toEqual([{ kind: 'expired', key: 'pop.dl', deadLettered: true }]);
    const record = JSON.parse((await fx.redis.lindex(`pop.dl${SEP}dead`, 0)) as string);
    expect([record.reason, record.queue_key, record.payload]).toEqual(['expired', 'pop.dl', payload]);
    expect([await fx.redis.hexists('unacked', 'dl'), await fx.redis.hget(DROPPED, `pop.dl${SEP}dead`)]).toEqual([0, null]);
  });

  it('delivers a stamped message whose deadline is still ahead', async () => {
    const payload = stamped(Date.now() + 60_000, 'ahead');
    await fx.redis.lpush('pop.ahead', payload);
    const got = await popAndRecord(fx.redis, popKeys('pop.ahead'), { now: Date.now() / 1000, limit: 1, record: true });
    expect(got).toEqual([{ kind: 'message', key: 'pop.ahead', payload, deliveryTag: 'ahead' }]);
  });

  it('expires a Kombu-style envelope from timestamp + expiration, and never one with an expiration alone', async () => {
    const past = Date.now() / 1000 - 10;
    await fx.redis.lpush('pop.kombu', envelope('with-ts', { timestamp: past, expiration: '1000' }), envelope('no-ts', { expiration: '1000' }));
    const got = await popAndRecord(fx.redis, popKeys('pop.kombu'), { now: Date.now() / 1000, limit: 5, record: true });
    expect(got.map((e) => (e.kind === 'message' ? e.deliveryTag : e.kind))).toEqual(['expired', 'no-ts']);
  });
});

describe('publishing to a queue with x-message-ttl', () => {
  it('keeps the queue TTL in the queue argument hash and stamps every envelope pushed there', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('pub.ttl', { arguments: { 'x-message-ttl': 1500 } });
    expect(await fx.redis.hgetall('_kelp.queue.pub.ttl')).toEqual({ 'x-message-ttl': '1500' });
    const before = Date.now();
    await channel.basicPublish(message({ n: 1 }), '', 'pub.ttl');
    const stored = (await fx.redis.lindex('pub.ttl', 0)) as string;
    const deadline = Number(STAMP.exec(stored)?.[1]);
    expect(deadline).toBeGreaterThanOrEqual(before + 1500);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 1500);
    expect(JSON.parse(stored).properties.delivery_info).toEqual({ exchange: '', routing_key: 'pub.ttl' });
  });

  it('writes envelopes to a queue without a TTL exactly as before', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('pub.plain', { arguments: { 'x-dead-letter': true } });
    expect(await fx.redis.exists('_kelp.queue.pub.plain')).toBe(0);
    await channel.basicPublish(message({ n: 2 }), '', 'pub.plain');
    expect(((await fx.redis.lindex('pub.plain', 0)) as string).startsWith('{"body":')).toBe(true);
  });

  it('removes the queue argument hash with the queue', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('pub.gone', { arguments: { 'x-message-ttl': 1000 } });
    await channel.queueDelete('pub.gone');
    expect(await fx.redis.exists('_kelp.queue.pub.gone')).toBe(0);
  });
});
