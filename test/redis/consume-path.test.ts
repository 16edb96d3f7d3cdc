/**
 * The consume path of issue 5: pops that skip lists known empty (woken by tracking invalidations
 * that name the list), two pops in flight within the prefetch window, and fanout deliveries
 * recorded in one transaction per tick.
 */
import type { Delivery } from '@kelp/core';
import type { RedisChannel, RedisTransport } from '@kelp/transport-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PopCandidates } from '../../packages/transport-redis/src/pop-candidates.js';
import { RedisKeys } from '../../packages/transport-redis/src/keys.js';
import { RecordBatcher } from '../../packages/transport-redis/src/record-batcher.js';
import { call, defineScripts, parsePopResult, popAndRecordArgs } from '../../packages/transport-redis/src/scripts.js';
import { SEP, bodyOf, collect, message, redisFixture, runFor, spinUntil, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

const keys = new RedisKeys({
  sep: SEP,
  prioritySteps: [0, 3, 6, 9],
  globalKeyprefix: '',
  unackedKey: 'unacked',
  unackedIndexKey: 'unacked_index',
  unackedMutexKey: 'unacked_mutex',
  fanoutPrefix: true,
  fanoutPatterns: false,
  db: 0,
});

interface PollerView {
  knownEmptyLists: number;
}
const pollerOf = (transport: RedisTransport, channel: RedisChannel): PollerView =>
  (transport as unknown as { pollers: Map<RedisChannel, PollerView> }).pollers.get(channel) as PollerView;

const envelope = (tag: string, queue: string, n: number): string =>
  JSON.stringify({
    body: Buffer.from(JSON.stringify({ n })).toString('base64'),
    'content-type': 'application/json',
    'content-encoding': 'utf-8',
    headers: {},
    properties: { delivery_tag: tag, delivery_info: { exchange: '', routing_key: queue }, body_encoding: 'base64', priority: 0 },
  });

describe('pop-and-record reply', () => {
  it('ends with the number of leading lists it found empty', async () => {
    await fx.redis.lpush('pr-b', envelope('pr-1', 'pr-b', 1));
    defineScripts(fx.redis);
    const pairs = [['pr-a', `pr-a${SEP}dead`], ['pr-b', `pr-b${SEP}dead`], ['pr-c', `pr-c${SEP}dead`]] as const;
    const raw = await call(fx.redis, 'popAndRecord', popAndRecordArgs({ unacked: 'unacked', unackedIndex: 'unacked_index', expiredDropped: 'dropped-expired', queues: pairs }, { now: 1, limit: 1, record: true }));
    const result = parsePopResult(raw);
    // pr-a was empty; pr-b gave the one message the limit allowed; pr-c was never looked at.
    expect([result.exhausted, result.entries.map((e) => e.key)]).toEqual([1, ['pr-b']]);
  });

  it('moves on from a list that came back short, in order, dead-lettering under the right key', async () => {
    // pr-x: two good messages and a malformed one; pr-y: two good ones; limit 4 takes pr-x dry
    // (a short batch of 3) and one of pr-y, which is not found empty.
    await fx.redis.lpush('pr-x', envelope('x-1', 'pr-x', 1), 'not json', envelope('x-2', 'pr-x', 2));
    await fx.redis.lpush('pr-y', envelope('y-1', 'pr-y', 1), envelope('y-2', 'pr-y', 2));
    const pairs = [['pr-x', `pr-x${SEP}dead`], ['pr-y', `pr-y${SEP}dead`]] as const;
    const pop = () => call(fx.redis, 'popAndRecord', popAndRecordArgs({ unacked: 'unacked', unackedIndex: 'unacked_index', expiredDropped: 'dropped-expired', queues: pairs }, { now: 1, limit: 4, record: true }));
    const first = parsePopResult(await pop());
    const second = parsePopResult(await pop());
    const view = (r: typeof first) => [r.exhausted, r.entries.map((e) => `${e.key}:${e.kind === 'message' ? e.deliveryTag : e.kind === 'dead' ? e.reason : e.kind}`)];
    expect([view(first), view(second), await fx.redis.llen(`pr-x${SEP}dead`)]).toEqual([
      [1, ['pr-x:x-1', 'pr-x:payload is not a JSON object', 'pr-x:x-2', 'pr-y:y-1']],
      [2, ['pr-y:y-2']],
      1,
    ]);
  });

  it('reads no key, so tracking does not follow unacked (every ack would send an invalidation)', async () => {
    const names = await invalidationsAfter(
      (popper) => call(popper, 'popAndRecord', popAndRecordArgs({ unacked: 'trk-unacked', unackedIndex: 'trk-index', expiredDropped: 'dropped-expired', queues: [['trk-q', `trk-q${SEP}dead`]] }, { now: 1, limit: 5, record: true })),
      ['trk-q', 'trk-unacked'],
    );
    expect(names).toEqual([]);
  });
});

describe('leading-empty', () => {
  it('counts the empty lists up to the first one with data, and arms tracking on those it read', async () => {
    await fx.redis.lpush('le-full', 'x');
    let reply: unknown;
    const names = await invalidationsAfter(
      async (popper) => {
        reply = await call(popper, 'leadingEmpty', [3, 'le-empty', 'le-full', 'le-after']);
      },
      ['le-empty', 'le-other'],
    );
    expect([reply, names]).toEqual([1, ['le-empty']]);
  });
});

/**
 * Runs `read` on a connection with CLIENT TRACKING redirected to a subscriber, then LPUSHes each
 * of `written` from another client, and returns the key names invalidations arrived for.
 */
async function invalidationsAfter(read: (popper: Redis) => Promise<unknown>, written: readonly string[]): Promise<string[]> {
  const sub = new Redis(fx.db.url);
  const popper = new Redis(fx.db.url);
  try {
    defineScripts(popper);
    const id = Number(await sub.client('ID'));
    const names: string[] = [];
    sub.on('messageBuffer', (_channel: Buffer, message: unknown) => {
      if (Array.isArray(message)) names.push(...message.map(String));
    });
    await sub.subscribe('__redis__:invalidate');
    await popper.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'NOLOOP');
    await read(popper);
    for (const key of written) await fx.redis.lpush(key, 'w');
    // A marker written last: once its invalidation (armed here) arrives, the others had their chance.
    await popper.exists('trk-marker');
    await fx.redis.lpush('trk-marker', 'w');
    const deadline = Date.now() + 2000;
    while (!names.includes('trk-marker') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return names.filter((n) => n !== 'trk-marker').sort();
  } finally {
    sub.disconnect();
    popper.disconnect();
  }
}

describe('PopCandidates', () => {
  const pairsOf = (queues: string[]) => new PopCandidates(keys).select(queues);

  it('names every list, step first then queue order, until one is found empty', () => {
    expect(pairsOf(['a', 'b']).map((p) => p[0])).toEqual(['a', 'b', `a${SEP}3`, `b${SEP}3`, `a${SEP}6`, `b${SEP}6`, `a${SEP}9`, `b${SEP}9`]);
  });

  it('leaves out lists leading-empty found empty and keeps the order of the rest', () => {
    const candidates = new PopCandidates(keys);
    const sent = candidates.select(['a', 'b']);
    candidates.foundEmpty(sent, 1, candidates.mark);
    expect(candidates.select(['b', 'a']).slice(0, 2).map((p) => p[0])).toEqual(['b', `b${SEP}3`]);
  });

  it('takes a list back when an invalidation names it', () => {
    const candidates = new PopCandidates(keys);
    candidates.foundEmpty(candidates.select(['a']), 4, candidates.mark);
    candidates.invalidate(['a']);
    expect(candidates.select(['a']).map((p) => p[0])).toEqual(['a']);
  });

  it('ignores "found empty" for a list invalidated while that pop was in flight', () => {
    const candidates = new PopCandidates(keys);
    const sent = candidates.select(['a']);
    const mark = candidates.mark;
    // The invalidation overtook the pop's reply (different connections).
    candidates.invalidate(['a']);
    candidates.foundEmpty(sent, 4, mark);
    expect(candidates.select(['a']).map((p) => p[0])).toEqual(['a']);
  });

  it('names no more than the given number of lists', () => {
    expect(new PopCandidates(keys).select(['a', 'b', 'c'], 2).map((p) => p[0])).toEqual(['a', 'b']);
  });
});

describe('consuming many queues', () => {
  it('stops naming lists it found empty, and still delivers a message pushed to one of them', async () => {
    // A 30 s fallback poll: a delivery within the 3 s below can only come from the invalidation.
    const { transport, channel, hub } = await fx.newTransport({ brpopTimeout: 30 });
    const got: Delivery[] = [];
    for (let i = 0; i < 20; i++) await channel.basicConsume(`mq${i}`, { onDelivery: (d) => got.push(d) });
    // 20 queues x 4 steps, all empty: each is found empty once and then skipped.
    expect(await spinUntil(hub, () => pollerOf(transport, channel).knownEmptyLists === 80, 3000)).toBe(true);
    await fx.redis.lpush(`mq17${SEP}3`, envelope('mq-late', 'mq17', 7));
    await collect(hub, got, 1, 3000);
    expect(got.map((d) => d.deliveryTag)).toEqual(['mq-late']);
  });

  it('serves step 0 of a later queue before step 9 of an earlier one (Kombu: step first, then queue order)', async () => {
    const { channel, hub } = await fx.newTransport();
    await channel.basicPublish(message({ p: 9 }, { priority: 9 }), '', 'pri-a');
    await channel.basicPublish(message({ p: 0 }, { priority: 0 }), '', 'pri-b');
    await channel.basicQos(1);
    const got: Delivery[] = [];
    await channel.basicConsume('pri-a', { onDelivery: (d) => got.push(d) });
    await channel.basicConsume('pri-b', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    await channel.basicAck((got[0] as Delivery).deliveryTag);
    await collect(hub, got, 2);
    expect(got.map((d) => bodyOf(d))).toEqual([{ p: 0 }, { p: 9 }]);
  });
});

describe('two pops in flight', () => {
  it('never holds more unacked deliveries than the prefetch count', async () => {
    await fx.redis.del('unacked', 'unacked_index');
    const { channel, hub } = await fx.newTransport();
    for (let i = 0; i < 60; i++) await channel.basicPublish(message({ i }), '', 'pf2');
    await channel.basicQos(10);
    const got: Delivery[] = [];
    let unacked = 0;
    let most = 0;
    await channel.basicConsume('pf2', {
      onDelivery: (d) => {
        got.push(d);
        unacked++;
        most = Math.max(most, unacked);
        // Ack every other one at once, the rest later: slots free up unevenly.
        if (got.length % 2 === 0) {
          unacked--;
          void channel.basicAck(d.deliveryTag);
        }
      },
    });
    await collect(hub, got, 10);
    await runFor(hub, 200);
    const heldInRedis = await fx.redis.hlen('unacked');
    expect([most <= 10, got.length < 60, heldInRedis <= 10]).toEqual([true, true, true]);
  });

  it('drains a backlog in order with every message delivered once', async () => {
    const { channel, hub } = await fx.newTransport();
    for (let i = 0; i < 500; i++) await channel.basicPublish(message({ i }), '', 'order2');
    await channel.basicQos(20);
    const got: number[] = [];
    await channel.basicConsume('order2', {
      onDelivery: (d) => {
        got.push((bodyOf(d) as { i: number }).i);
        void channel.basicAck(d.deliveryTag);
      },
    });
    await hub.runUntil(() => got.length >= 500, { timeoutMs: 10_000 });
    await runFor(hub, 100);
    expect([got.length, got.every((v, i) => v === i), await fx.redis.llen('order2')]).toEqual([500, true, 0]);
  });

  it('pops nothing while the hub is not running', async () => {
    await fx.redis.del('unacked', 'unacked_index');
    const { channel, hub } = await fx.newTransport();
    const got: Delivery[] = [];
    await channel.basicConsume('idle-hub', { onDelivery: (d) => got.push(d) });
    await runFor(hub, 100);
    await channel.basicPublish(message({ late: true }), '', 'idle-hub');
    // The invalidation arrives while nobody runs the hub: the message must stay in Redis.
    await new Promise((r) => setTimeout(r, 150));
    expect([await fx.redis.llen('idle-hub'), await fx.redis.hlen('unacked')]).toEqual([1, 0]);
    await collect(hub, got, 1);
    expect(got.map((d) => bodyOf(d))).toEqual([{ late: true }]);
  });
});

describe('fanout deliveries', () => {
  it('records the deliveries of one tick in one transaction, in Kombu’s unacked layout', async () => {
    const client = new Redis(fx.db.url);
    try {
      let transactions = 0;
      const multi = client.multi.bind(client);
      (client as unknown as { multi: typeof client.multi }).multi = ((...args: Parameters<typeof client.multi>) => {
        transactions++;
        return multi(...args);
      }) as typeof client.multi;
      const batcher = new RecordBatcher(client, 'rb-unacked', 'rb-index', () => 1000.5);
      await Promise.all(['t1', 't2', 't3'].map((tag) => batcher.record(tag, `[{"t": "${tag}"}, "ex", "rk"]`)));
      expect([transactions, await client.hget('rb-unacked', 't2'), await client.zscore('rb-index', 't3')]).toEqual([1, '[{"t": "t2"}, "ex", "rk"]', '1000.5']);
    } finally {
      client.disconnect();
    }
  });

  it('holds fanout messages beyond the prefetch count until an ack frees a slot', async () => {
    await fx.redis.del('unacked', 'unacked_index');
    const { channel, hub } = await fx.newTransport();
    await channel.exchangeDeclare('fq-x', { type: 'fanout' });
    await channel.queueBind('fq-q', 'fq-x', '');
    await channel.basicQos(2);
    const got: Delivery[] = [];
    await channel.basicConsume('fq-q', { onDelivery: (d) => got.push(d) });
    let patterns = 0;
    await spinUntil(hub, () => {
      void fx.redis.call('PUBSUB', 'NUMPAT').then((n) => (patterns = Number(n)));
      return patterns > 0;
    });
    const publisher = await fx.newTransport();
    await publisher.channel.exchangeDeclare('fq-x', { type: 'fanout' });
    await publisher.channel.queueBind('fq-q', 'fq-x', '');
    for (let i = 0; i < 5; i++) await publisher.channel.basicPublish(message({ i }), 'fq-x', '');
    await collect(hub, got, 2);
    await runFor(hub, 200);
    const held = [got.length, await fx.redis.hlen('unacked')];
    await channel.basicAck((got[0] as Delivery).deliveryTag);
    await collect(hub, got, 3);
    expect([...held, got.map((d) => (bodyOf(d) as { i: number }).i)]).toEqual([2, 2, [0, 1, 2]]);
  });
});
