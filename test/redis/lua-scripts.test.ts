import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ackTags, deadLetter, defineScripts, popAndRecord, releaseMutex, restoreByTag } from '../../packages/transport-redis/src/scripts.js';
import { freshDb } from '../setup/fresh-db.js';

const SEP = '\x06\x16';
let redis: Redis;

const envelope = (tag: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    body: 'eyJhIjogMX0=',
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {},
    properties: { delivery_info: { exchange: 'myex', routing_key: 'myrk' }, priority: 0, body_encoding: 'base64', delivery_tag: tag, ...extra },
  });
const popKeys = (queues: string[]) => ({
  unacked: 'unacked',
  unackedIndex: 'unacked_index',
  queues: queues.map((q) => [q, `${q}${SEP}dead`] as const),
  expiredDropped: '_kelp.dropped.expired',
});

beforeAll(async () => {
  const db = await freshDb();
  redis = new Redis(db.url);
  defineScripts(redis);
});
afterAll(() => redis.quit());

describe('pop-and-record', () => {
  it('pops the oldest message and records [envelope, exchange, rk] and its time in one step', async () => {
    await redis.lpush('pq1', envelope('t-1'), envelope('t-2'));
    const got = await popAndRecord(redis, popKeys(['pq1']), { now: 1795287474.939462, limit: 1, record: true });
    expect(got).toEqual([{ kind: 'message', key: 'pq1', payload: envelope('t-1'), deliveryTag: 't-1' }]);
    expect(await redis.hget('unacked', 't-1')).toBe(`[${envelope('t-1')}, "myex", "myrk"]`);
    expect(Number(await redis.zscore('unacked_index', 't-1'))).toBeCloseTo(1795287474.939462, 5);
    expect(await redis.lrange('pq1', 0, -1)).toEqual([envelope('t-2')]);
  });

  it('takes keys in the given order and drains up to the limit', async () => {
    await redis.lpush(`pq2${SEP}3`, envelope('b-1'));
    await redis.lpush('pq2', envelope('a-1'), envelope('a-2'));
    const got = await popAndRecord(redis, popKeys(['pq2', `pq2${SEP}3`]), { now: 1, limit: 5, record: false });
    expect(got.map((e) => (e.kind === 'message' ? e.deliveryTag : e.kind === 'dead' ? e.reason : e.kind))).toEqual(['a-1', 'a-2', 'b-1']);
    expect(await redis.hexists('unacked', 'a-1')).toBe(0);
  });

  it('moves an envelope without a delivery tag to the dead-letter list with its reason', async () => {
    await redis.lpush('pq3', '{"body": "x", "properties": {"delivery_info": {}}}');
    const got = await popAndRecord(redis, popKeys(['pq3']), { now: 5, limit: 1, record: true });
    expect(got).toEqual([{ kind: 'dead', key: 'pq3', payload: '{"body": "x", "properties": {"delivery_info": {}}}', reason: 'properties.delivery_tag missing' }]);
    const record = JSON.parse((await redis.lindex(`pq3${SEP}dead`, 0)) as string);
    expect([record.reason, record.queue_key, record.time]).toEqual(['properties.delivery_tag missing', 'pq3', 5]);
  });

  it('dead-letters a payload that is not JSON', async () => {
    await redis.lpush('pq4', 'not json{');
    const got = await popAndRecord(redis, popKeys(['pq4']), { now: 5, limit: 1, record: true });
    expect(got[0]).toMatchObject({ kind: 'dead', reason: 'payload is not a JSON object' });
    expect(await redis.llen(`pq4${SEP}dead`)).toBe(1);
  });
});

describe('ack, restore-by-tag, release-mutex, dead-letter', () => {
  it('acks many tags by removing hash and index entries', async () => {
    await redis.hset('unacked', 'k-1', 'x', 'k-2', 'y');
    await redis.zadd('unacked_index', 1, 'k-1', 2, 'k-2');
    expect(await ackTags(redis, 'unacked', 'unacked_index', ['k-1', 'k-2', 'k-3'])).toBe(2);
    expect([await redis.hexists('unacked', 'k-1'), await redis.zscore('unacked_index', 'k-2')]).toEqual([0, null]);
  });

  it('restores with RPUSH to the head of every target queue when the entry is unchanged', async () => {
    await redis.lpush('rq1', 'older');
    await redis.hset('unacked', 'r-1', 'stored');
    await redis.zadd('unacked_index', 1, 'r-1');
    const res = await restoreByTag(redis, { unacked: 'unacked', unackedIndex: 'unacked_index', targets: ['rq1', 'rq2'] }, { tag: 'r-1', expected: 'stored', envelope: 'ENV', leftmost: false });
    expect(res).toBe(1);
    expect([await redis.lrange('rq1', 0, -1), await redis.lrange('rq2', 0, -1), await redis.hexists('unacked', 'r-1')]).toEqual([['older', 'ENV'], ['ENV'], 0]);
  });

  it('requeues with LPUSH to the back of the queue', async () => {
    await redis.lpush('rq3', 'older');
    await redis.hset('unacked', 'r-2', 'stored');
    await restoreByTag(redis, { unacked: 'unacked', unackedIndex: 'unacked_index', targets: ['rq3'] }, { tag: 'r-2', expected: 'stored', envelope: 'ENV', leftmost: true });
    expect(await redis.lrange('rq3', 0, -1)).toEqual(['ENV', 'older']);
  });

  it('pushes nothing when the entry is gone or changed', async () => {
    await redis.hset('unacked', 'r-3', 'changed');
    const args = { tag: 'r-3', expected: 'stored', envelope: 'ENV', leftmost: false };
    const keys = { unacked: 'unacked', unackedIndex: 'unacked_index', targets: ['rq4'] };
    expect(await restoreByTag(redis, keys, args)).toBe(-1);
    await redis.hdel('unacked', 'r-3');
    expect(await restoreByTag(redis, keys, args)).toBe(0);
    expect(await redis.llen('rq4')).toBe(0);
  });

  it('releases the mutex only for its owner token', async () => {
    await redis.set('m1', 'mine');
    expect(await releaseMutex(redis, 'm1', 'theirs')).toBe(false);
    expect(await releaseMutex(redis, 'm1', 'mine')).toBe(true);
    expect(await redis.exists('m1')).toBe(0);
  });

  it('moves a recorded message to the dead-letter list and forgets it', async () => {
    await redis.hset('unacked', 'd-1', 'x');
    await redis.zadd('unacked_index', 1, 'd-1');
    expect(await deadLetter(redis, { unacked: 'unacked', unackedIndex: 'unacked_index', deadKey: 'dq' }, 'd-1', '{"reason":"r"}')).toBe(1);
    expect([await redis.hexists('unacked', 'd-1'), await redis.lindex('dq', 0)]).toEqual([0, '{"reason":"r"}']);
  });
});
