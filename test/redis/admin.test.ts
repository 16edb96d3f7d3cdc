/**
 * transport.admin on Redis: inspect, restore (bounded batches under unacked_mutex), dead-letter
 * listing and requeue, on keys written by Python Kombu 5.2.4 and by hand as the spec lays them out.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { parseUrl } from '@kelp/core';
import { RedisTransport } from '@kelp/transport-redis';
import { restoreInBatches } from '../../packages/transport-redis/src/restore-batches.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, redisFixture, type RedisFixture } from './helpers.js';

const run = promisify(execFile);
let fx: RedisFixture;
let transport: RedisTransport;
beforeAll(async () => {
  fx = await redisFixture();
  transport = new RedisTransport(parseUrl(fx.db.url, {}));
  await transport.connect();
});
afterAll(async () => {
  await transport.close();
  await fx.close();
});

/**
 * A Kombu envelope as Kombu 5.2.4 writes it (docs/wire-format.md#json-layout), with `tag` as
 * delivery tag.
 */
function kombuEnvelope(body: unknown, exchange: string, routingKey: string, tag: string = randomUUID(), priority = 0): string {
  return JSON.stringify({
    body: Buffer.from(JSON.stringify(body)).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {},
    properties: { delivery_mode: 2, delivery_info: { exchange, routing_key: routingKey }, priority, body_encoding: 'base64', delivery_tag: tag },
  });
}

/**
 * Writes an unacked entry the way Kombu's delivery transaction does
 * (docs/wire-format.md#delivery-record).
 */
async function abandon(queueExchange: string, routingKey: string, body: unknown, ageSeconds: number, tag: string = randomUUID()): Promise<string> {
  const env = kombuEnvelope(body, queueExchange, routingKey, tag);
  await fx.redis.hset('unacked', tag, `[${env}, ${JSON.stringify(queueExchange)}, ${JSON.stringify(routingKey)}]`);
  await fx.redis.zadd('unacked_index', Date.now() / 1000 - ageSeconds, tag);
  return tag;
}

const bodies = async (key: string) =>
  (await fx.redis.lrange(key, 0, -1)).map((raw) => JSON.parse(Buffer.from(JSON.parse(raw).body, 'base64').toString()) as unknown);

const KOMBU_PUBLISH_AND_CRASH = `
import sys, os
from kombu import Connection, Exchange, Queue
url = sys.argv[1]
ex = Exchange('adm.py', type='direct')
q = Queue('adm.pyq', ex, routing_key='py', max_priority=9)
tex = Exchange('adm.topic', type='topic')
tq = Queue('adm.tq', tex, routing_key='stock.#')
conn = Connection(url)
producer = conn.Producer()
for i in range(4):
    producer.publish({'n': i}, exchange=ex, routing_key='py', declare=[q], priority=[0, 0, 5, 9][i])
producer.publish({'t': 1}, exchange=tex, routing_key='stock.eu', declare=[tq])
bound = q(conn.default_channel)
m = bound.get(no_ack=False)
assert m is not None
os._exit(0)  # a crash: the message stays in unacked
`;

describe('inspect', () => {
  it('shows what a crashed Python Kombu left: bindings, lengths per priority step, unacked count and age', async () => {
    await run('/usr/bin/python3', ['-c', KOMBU_PUBLISH_AND_CRASH, fx.db.url], { timeout: 30_000 });
    const report = await transport.admin.inspect();
    expect(report.exchanges.find((e) => e.name === 'adm.py')).toEqual({
      name: 'adm.py',
      type: 'unknown',
      bindings: [{ queue: 'adm.pyq', routingKey: 'py' }],
    });
    expect(report.exchanges.find((e) => e.name === 'adm.topic')).toMatchObject({ type: 'topic', bindings: [{ queue: 'adm.tq', routingKey: 'stock.#' }] });
    const queue = report.queues.find((q) => q.name === 'adm.pyq');
    expect(queue).toMatchObject({ length: 3, priorityLengths: { '0': 1, '3': 1, '9': 1 }, unacked: 1, deadLetters: 0 });
    expect(queue?.oldestUnackedAge).toBeGreaterThanOrEqual(0);
    expect(queue?.oldestUnackedAge).toBeLessThan(30);
    expect(report.queues.find((q) => q.name === 'adm.tq')).toMatchObject({ length: 1, unacked: 0, oldestUnackedAge: null });
    expect(report.unackedTotal).toBe(1);
    expect(report.visibilityTimeout).toBe(3600);
  });

  it('lists a queue named only in an unacked entry, with the age of its oldest entry', async () => {
    await abandon('', 'adm.orphan', { o: 1 }, 120);
    await abandon('', 'adm.orphan', { o: 2 }, 30);
    const queue = (await transport.admin.inspect()).queues.find((q) => q.name === 'adm.orphan');
    expect(queue?.unacked).toBe(2);
    expect(Math.round(queue?.oldestUnackedAge ?? 0)).toBeGreaterThanOrEqual(119);
  });

  it('lists a queue fed through the default exchange, which has no binding, from its lists', async () => {
    await fx.redis.lpush('adm.plain', kombuEnvelope({ p: 1 }, '', 'adm.plain'));
    await fx.redis.lpush(`adm.plain${SEP}6`, kombuEnvelope({ p: 2 }, '', 'adm.plain', undefined, 7));
    const queue = (await transport.admin.inspect()).queues.find((q) => q.name === 'adm.plain');
    expect(queue).toEqual({ name: 'adm.plain', length: 2, priorityLengths: { '0': 1, '6': 1 }, unacked: 0, oldestUnackedAge: null, deadLetters: 0 });
  });
});

describe('restore', () => {
  it('dry-run counts per queue and changes nothing', async () => {
    await abandon('', 'adm.dry', { d: 1 }, 100);
    const before = await fx.redis.hlen('unacked');
    const report = await transport.admin.restore({ olderThan: 50, queue: 'adm.dry', dryRun: true });
    expect(report).toEqual({ dryRun: true, olderThan: 50, restored: [{ queue: 'adm.dry', count: 1 }], total: 1 });
    expect([await fx.redis.hlen('unacked'), await fx.redis.llen('adm.dry')]).toEqual([before, 0]);
  });

  it('restores only entries older than the threshold and only the chosen queue, marked redelivered', async () => {
    const old = await abandon('', 'adm.q1', { a: 'old' }, 500);
    const young = await abandon('', 'adm.q1', { a: 'young' }, 5);
    const other = await abandon('', 'adm.q2', { a: 'other' }, 500);
    const report = await transport.admin.restore({ olderThan: 100, queue: 'adm.q1' });
    expect(report).toEqual({ dryRun: false, olderThan: 100, restored: [{ queue: 'adm.q1', count: 1 }], total: 1 });
    const [raw] = await fx.redis.lrange('adm.q1', 0, -1);
    const env = JSON.parse(raw as string);
    expect([env.properties.delivery_tag, env.headers.redelivered, env.headers['x-delivery-count']]).toEqual([old, true, 1]);
    expect([await fx.redis.hexists('unacked', young), await fx.redis.hexists('unacked', other), await fx.redis.hexists('unacked', old)]).toEqual([1, 1, 0]);
  });

  it('routes through the stored bindings of a Kombu direct exchange', async () => {
    await fx.redis.sadd('_kombu.binding.adm.route', `rk${SEP}${SEP}adm.routed`);
    await abandon('adm.route', 'rk', { r: 1 }, 500);
    const report = await transport.admin.restore({ olderThan: 100, queue: 'adm.routed' });
    expect(report.restored).toEqual([{ queue: 'adm.routed', count: 1 }]);
    expect(await bodies('adm.routed')).toEqual([{ r: 1 }]);
  });

  it('dead-letters an entry whose exchange has no binding left instead of dropping it', async () => {
    const tag = await abandon('adm.gone', 'nowhere', { g: 1 }, 500);
    const report = await transport.admin.restore({ olderThan: 100, queue: 'nowhere' });
    expect(report).toMatchObject({ total: 0, restored: [], deadLettered: [{ queue: 'nowhere', count: 1 }] });
    const [entry] = await transport.admin.deadLetters('nowhere');
    expect([entry?.deliveryTag, entry?.reason, JSON.parse(entry?.raw ?? '{}').properties.delivery_tag]).toEqual([
      tag,
      "no route on restore: exchange 'adm.gone' routing key 'nowhere'",
      tag,
    ]);
  });

  it('moves 1,200 entries in batches of 500 with the oldest next in line, each exactly once', async () => {
    const queue = 'adm.batch';
    const pipeline = fx.redis.pipeline();
    const base = Date.now() / 1000 - 1000;
    for (let i = 0; i < 1200; i++) {
      const tag = `b-${i}`;
      const env = kombuEnvelope({ i }, '', queue, tag);
      pipeline.hset('unacked', tag, `[${env}, "", ${JSON.stringify(queue)}]`).zadd('unacked_index', base + i / 10, tag);
    }
    await pipeline.exec();
    const client = transport.client;
    let batches = 0;
    const result = await restoreInBatches(client, transport.keys, {
      ceiling: Date.now() / 1000 - 100,
      queue,
      batchSize: 500,
      resolve: async (_ex, rk) => {
        if (rk === queue) batches++;
        return [rk];
      },
      target: 'bare',
      lock: { expireMs: 5000, waitMs: 1000 },
      wallClock: () => Date.now() / 1000,
    });
    expect(result.items.length).toBe(1200);
    // One route lookup per (exchange, routing key) and batch run: the resolver is cached per run.
    expect(batches).toBe(1);
    const order = (await bodies(queue)).map((b) => (b as { i: number }).i);
    // RPOP takes from the right: the right end must be the oldest (i = 0).
    expect(order.at(-1)).toBe(0);
    expect(order[0]).toBe(1199);
    expect(new Set(order).size).toBe(1200);
  });

  it('two concurrent restores move each of 3,000 entries exactly once', async () => {
    const queue = 'adm.race';
    const pipeline = fx.redis.pipeline();
    for (let i = 0; i < 3000; i++) {
      const tag = `r-${i}`;
      pipeline.hset('unacked', tag, `[${kombuEnvelope({ i }, '', queue, tag)}, "", ${JSON.stringify(queue)}]`).zadd('unacked_index', Date.now() / 1000 - 1000, tag);
    }
    await pipeline.exec();
    const second = new RedisTransport(parseUrl(fx.db.url, {}));
    try {
      const [a, b] = await Promise.all([transport.admin.restore({ olderThan: 100, queue }), second.admin.restore({ olderThan: 100, queue })]);
      expect(a.total + b.total).toBe(3000);
      expect(await fx.redis.llen(queue)).toBe(3000);
      expect((await transport.admin.restore({ olderThan: 100, queue })).total).toBe(0);
    } finally {
      await second.close();
    }
  });

  it('waits for an unacked_mutex held by someone else, then restores', async () => {
    await abandon('', 'adm.locked', { l: 1 }, 500);
    await fx.redis.set('unacked_mutex', 'python-token', 'PX', 400);
    const started = Date.now();
    const report = await transport.admin.restore({ olderThan: 100, queue: 'adm.locked' });
    expect(report.total).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await fx.redis.exists('unacked_mutex')).toBe(0);
  });
});

describe('dead letters', () => {
  it('lists records oldest first with reason and original bytes, and requeues only valid envelopes', async () => {
    const good = kombuEnvelope({ ok: 1 }, '', 'adm.dl', 'dl-good', 5);
    const rec = (payload: string, reason: string, time: number) => JSON.stringify({ reason, queue: 'adm.dl', time, payload });
    await fx.redis.lpush(`adm.dl${SEP}dead`, rec(good, 'rejected without requeue', 1), rec('garbage', 'envelope is not JSON', 2));
    const entries = await transport.admin.deadLetters('adm.dl');
    expect(entries.map((e) => [e.reason, e.raw, e.at])).toEqual([
      ['rejected without requeue', good, 1],
      ['envelope is not JSON', 'garbage', 2],
    ]);
    expect(await transport.admin.requeueDeadLetters('adm.dl')).toEqual({ requeued: 1, skipped: 1 });
    expect(await bodies(`adm.dl${SEP}3`)).toEqual([{ ok: 1 }]);
    expect((await transport.admin.deadLetters('adm.dl')).map((e) => e.raw)).toEqual(['garbage']);
    expect((await transport.admin.inspect()).queues.find((q) => q.name === 'adm.dl')).toMatchObject({ deadLetters: 1, length: 1 });
  });

  it('gives back the exact original bytes of a payload that is not UTF-8, as base64', async () => {
    const bad = Buffer.concat([Buffer.from('{"body": "'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}')]);
    await fx.redis.lpush('adm.bytes', bad);
    const channel = await transport.createChannel();
    expect(await channel.basicGet('adm.bytes')).toBeUndefined();
    const [entry] = await transport.admin.deadLetters('adm.bytes');
    expect([entry?.reason, entry?.rawEncoding, Buffer.from(entry?.raw ?? '', 'base64').equals(bad)]).toEqual(['payload is not valid UTF-8', 'base64', true]);
  });

  it('dry-run counts each entry once across pages holding stale index members and other queues', async () => {
    const pipeline = fx.redis.pipeline();
    const base = Date.now() / 1000 - 5000;
    for (let i = 0; i < 450; i++) {
      const tag = `dry-${i}`;
      const queue = i % 3 === 0 ? 'adm.dry.other' : 'adm.dry.mine';
      // Every 7th index member has no hash entry (acked between the two writes of a crash).
      if (i % 7 !== 0) pipeline.hset('unacked', tag, `[${kombuEnvelope({ i }, '', queue, tag)}, "", ${JSON.stringify(queue)}]`);
      pipeline.zadd('unacked_index', base + i / 100, tag);
    }
    await pipeline.exec();
    const expected = [...Array(450).keys()].filter((i) => i % 3 !== 0 && i % 7 !== 0).length;
    const result = await restoreInBatches(transport.client, transport.keys, {
      ceiling: Date.now() / 1000 - 1000,
      queue: 'adm.dry.mine',
      dryRun: true,
      batchSize: 200,
      resolve: async (_ex, rk) => [rk],
      target: 'bare',
      lock: { expireMs: 5000, waitMs: 0 },
      wallClock: () => Date.now() / 1000,
    });
    expect(result.items.length).toBe(expected);
    expect(new Set(result.items.map((item) => item.tag)).size).toBe(expected);
  });

  it('holds unacked_mutex for at most 10 s per batch, so a lost release cannot stall sweepers for 300 s', async () => {
    await abandon('', 'adm.pttl', { p: 1 }, 500);
    let pttl = -1;
    const result = await restoreInBatches(transport.client, transport.keys, {
      ceiling: Date.now() / 1000 - 100,
      queue: 'adm.pttl',
      resolve: async (_ex, rk) => {
        pttl = await fx.redis.pttl('unacked_mutex');
        return [rk];
      },
      target: 'bare',
      lock: { expireMs: 300_000, waitMs: 1000 },
      wallClock: () => Date.now() / 1000,
    });
    expect(result.items.map((item) => item.queues)).toEqual([['adm.pttl']]);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(10_000);
  });
});

