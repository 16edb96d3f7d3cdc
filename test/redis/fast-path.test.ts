/**
 * The batched fast path (issue 5): one route-and-push call per tick for publishes, one ack call
 * per tick for acks, and batch pops larger than one unpack chunk. What is stored must stay
 * exactly Kombu's (the interop tests check Python reads it); these tests pin the mechanics.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PushBatcher } from '../../packages/transport-redis/src/push-batcher.js';
import { AckCoalescer } from '../../packages/transport-redis/src/ack-coalescer.js';
import { call, defineScripts, popAndRecord } from '../../packages/transport-redis/src/scripts.js';
import { freshDb } from '../setup/fresh-db.js';
import { message, redisFixture, type RedisFixture } from './helpers.js';

const SEP = '\x06\x16';
/** The publish script's queue-argument names for the default key options (RedisKeys.queuePolicyNames). */
const POLICY = {
  argumentsPrefix: '_kelp.queue.',
  stepSuffixes: JSON.stringify(['', `${SEP}3`, `${SEP}6`, `${SEP}9`]),
  deadLetterSuffix: `${SEP}dead`,
  droppedPrefix: '_kelp.dropped.',
};
let redis: Redis;

const envelope = (tag: string) =>
  JSON.stringify({
    body: 'eyJhIjogMX0=',
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {},
    properties: { delivery_info: { exchange: 'fx', routing_key: 'rk' }, priority: 0, body_encoding: 'base64', delivery_tag: tag },
  });
const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/** Counts calls of one defined script on `client` (the batchers look the method up per call). */
function countCalls(client: Redis, command: string): { calls: number } {
  const counter = { calls: 0 };
  const target = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const original = target[command] as (...args: unknown[]) => Promise<unknown>;
  target[command] = function (this: unknown, ...args: unknown[]) {
    counter.calls += 1;
    return original.apply(this, args);
  };
  return counter;
}

beforeAll(async () => {
  const db = await freshDb();
  redis = new Redis(db.url);
  defineScripts(redis);
});
afterAll(() => redis.quit());

describe('route-and-push', () => {
  it('pushes a direct publish to every queue bound with its routing key, once each, in one call', async () => {
    await redis.sadd('_kombu.binding.dx', `rk${SEP}${SEP}q1`, `rk${SEP}${SEP}q2`, `other${SEP}${SEP}q3`);
    const client = new Redis(redis.options);
    defineScripts(client);
    const counter = countCalls(client, 'kelpRouteAndPush');
    const batcher = new PushBatcher(client, '', SEP, POLICY, asError);
    const [first, second] = await Promise.all([
      batcher.routeDirect('_kombu.binding.dx', 'rk', '', envelope('d-1')),
      batcher.routeDirect('_kombu.binding.dx', 'rk', '', envelope('d-2')),
    ]);
    client.disconnect();
    expect([first?.sort(), second?.sort(), counter.calls]).toEqual([['q1', 'q2'], ['q1', 'q2'], 1]);
    expect(await redis.lrange('q1', 0, -1)).toEqual([envelope('d-2'), envelope('d-1')]);
    expect(await redis.llen('q3')).toBe(0);
  });

  it('reports no queues and stores nothing when no binding matches', async () => {
    await redis.sadd('_kombu.binding.nx', `a${SEP}${SEP}nq`);
    const batcher = new PushBatcher(redis, '', SEP, POLICY, asError);
    const queues = await batcher.routeDirect('_kombu.binding.nx', 'b', '', envelope('n-1'));
    expect([queues, await redis.exists('nq')]).toEqual([[], 0]);
  });

  it('pushes to the prefixed priority sub-list', async () => {
    const batcher = new PushBatcher(redis, 'pre:', SEP, { ...POLICY, argumentsPrefix: 'pre:_kelp.queue.', droppedPrefix: 'pre:_kelp.dropped.' }, asError);
    await batcher.push('pq', `${SEP}6`, envelope('p-1'));
    expect(await redis.lrange(`pre:pq${SEP}6`, 0, -1)).toEqual([envelope('p-1')]);
  });

  it('fails only the push whose key has the wrong type, not the others of the same call', async () => {
    await redis.set('notalist', 'x');
    const batcher = new PushBatcher(redis, '', SEP, POLICY, (error) => new Error(`wrapped: ${asError(error).message}`));
    const results = await Promise.allSettled([
      batcher.push('okq1', '', envelope('w-1')),
      batcher.push('notalist', '', envelope('w-2')),
      batcher.push('okq2', '', envelope('w-3')),
    ]);
    expect(results.map((r) => (r.status === 'rejected' ? asError(r.reason).message.slice(0, 18) : r.status))).toEqual([
      'fulfilled',
      'wrapped: WRONGTYPE',
      'fulfilled',
    ]);
    expect([await redis.llen('okq1'), await redis.llen('okq2')]).toEqual([1, 1]);
  });
});

describe('route-and-push, one publish per call', () => {
  /**
   * The script's own path for one publish to one destination (plan "1,1") against its general
   * path, reached with the same publish sent as two runs ("1,1,1,1"): the replies must be the
   * same but for the message count in the failure range, and each queue must hold the envelope
   * once per run.
   */
  async function bothPaths(mode: 'q' | 'd', target: string, rk: string): Promise<{ single: unknown; general: unknown; lists: Record<string, number> }> {
    const env = envelope(`one-${mode}-${target}`);
    const head = ['', SEP, '{}', POLICY.argumentsPrefix, Date.now(), POLICY.stepSuffixes, POLICY.deadLetterSuffix, POLICY.droppedPrefix, 1, mode, target, rk, ''];
    const single = await call(redis, 'routeAndPush', [...head, '1,1', env]).catch((error: unknown) => asError(error).message);
    const general = await call(redis, 'routeAndPush', [...head, '1,1,1,1', env, env]).catch((error: unknown) => asError(error).message);
    const lists: Record<string, number> = {};
    for (const key of ['one-q1', 'one-q2', 'one-q3', 'one-bad']) lists[key] = (await redis.type(key)) === 'list' ? await redis.llen(key) : -1;
    await redis.del('one-q1', 'one-q2', 'one-q3');
    return { single, general, lists };
  }

  it('routes a direct publish as the general path does: matching key, set order, each queue once, bad members skipped', async () => {
    await redis.sadd('_kombu.binding.one', `rk${SEP}p1${SEP}one-q1`, `rk${SEP}p2${SEP}one-q1`, `rk${SEP}${SEP}one-q2`, `other${SEP}${SEP}one-q3`, `rk${SEP}one-q3`, 'rk');
    const { single, general, lists } = await bothPaths('d', '_kombu.binding.one', 'rk');
    const queues = (reply: unknown) => ((reply as unknown[][])[0]?.[0] as string[]).slice().sort();
    expect([queues(single), single, lists]).toEqual([['one-q1', 'one-q2'], general, { 'one-q1': 3, 'one-q2': 3, 'one-q3': -1, 'one-bad': -1 }]);
  });

  it('answers an empty route and a queue push as the general path does', async () => {
    const none = await bothPaths('d', '_kombu.binding.none', 'rk');
    const queue = await bothPaths('q', 'one-q3', '');
    expect([none.single, none.general, queue.single, queue.general, queue.lists['one-q3']]).toEqual([[[[]]], [[[]]], [[1]], [[1]], 3]);
  });

  it('reports a push that failed (WRONGTYPE) in the same shape, and still pushes to the other queues', async () => {
    await redis.set('one-bad', 'x');
    await redis.sadd('_kombu.binding.bad', `rk${SEP}${SEP}one-bad`, `rk${SEP}${SEP}one-q1`);
    const { single, general, lists } = await bothPaths('d', '_kombu.binding.bad', 'rk');
    // [queues reached, then from, to, error per failed range]; the general path had two runs.
    const shape = (reply: unknown) => {
      const [results, ...failures] = reply as [string[][], ...unknown[]];
      return [results[0]?.slice().sort(), ...failures.map((f) => (f instanceof Error ? f.message.slice(0, 9) : f))];
    };
    expect([shape(single), shape(general), lists['one-q1']]).toEqual([
      [['one-bad', 'one-q1'], 1, 1, 'WRONGTYPE'],
      [['one-bad', 'one-q1'], 1, 1, 'WRONGTYPE', 2, 2, 'WRONGTYPE'],
      3,
    ]);
  });
});

describe('route-and-push groups', () => {
  it('stores a tick of 300 publishes to one queue in publish order, sent as calls of at most 128', async () => {
    const client = new Redis(redis.options);
    defineScripts(client);
    const counter = countCalls(client, 'kelpRouteAndPush');
    const batcher = new PushBatcher(client, '', SEP, POLICY, asError);
    const tags = Array.from({ length: 300 }, (_, i) => `g-${i}`);
    await Promise.all(tags.map((tag) => batcher.push('gq', '', envelope(tag))));
    client.disconnect();
    const stored = await redis.lrange('gq', 0, -1);
    expect([counter.calls, stored.length, stored.reverse()]).toEqual([3, 300, tags.map(envelope)]);
  });

  it('stores a payload holding a raw newline unchanged, between its neighbours', async () => {
    const batcher = new PushBatcher(redis, '', SEP, POLICY, asError);
    // A raw newline (compact JSON never has one; a spilled payload from elsewhere might).
    const odd = envelope('n-2').replace('"headers":{}', '"headers":{"note":"a\nb"}');
    await Promise.all([batcher.push('nlq', '', envelope('n-1')), batcher.push('nlq', '', odd), batcher.push('nlq', '', envelope('n-3'))]);
    expect(await redis.lrange('nlq', 0, -1)).toEqual([envelope('n-3'), odd, envelope('n-1')]);
  });

  it('fails every publish of a group whose queue has the wrong type, and none of the next group', async () => {
    await redis.set('notalist2', 'x');
    const batcher = new PushBatcher(redis, '', SEP, POLICY, (error) => new Error(`wrapped: ${asError(error).message}`));
    const results = await Promise.allSettled([
      batcher.push('notalist2', '', envelope('f-1')),
      batcher.push('notalist2', '', envelope('f-2')),
      batcher.push('okq3', '', envelope('f-3')),
      batcher.push('okq3', '', envelope('f-4')),
    ]);
    expect(results.map((r) => (r.status === 'rejected' ? asError(r.reason).message.slice(0, 18) : r.status))).toEqual([
      'wrapped: WRONGTYPE',
      'wrapped: WRONGTYPE',
      'fulfilled',
      'fulfilled',
    ]);
    expect(await redis.lrange('okq3', 0, -1)).toEqual([envelope('f-4'), envelope('f-3')]);
  });

  it('fails exactly the alternate publishes whose queue has the wrong type', async () => {
    await redis.set('notalist3', 'x');
    const batcher = new PushBatcher(redis, '', SEP, POLICY, (error) => new Error(`wrapped: ${asError(error).message}`));
    const results = await Promise.allSettled(
      ['a-1', 'a-2', 'a-3', 'a-4'].map((tag, i) => batcher.push(i % 2 === 0 ? 'okq4' : 'notalist3', '', envelope(tag))),
    );
    expect(results.map((r) => (r.status === 'rejected' ? asError(r.reason).message.slice(0, 18) : r.status))).toEqual([
      'fulfilled',
      'wrapped: WRONGTYPE',
      'fulfilled',
      'wrapped: WRONGTYPE',
    ]);
    expect(await redis.lrange('okq4', 0, -1)).toEqual([envelope('a-3'), envelope('a-1')]);
  });

  it('keeps publish order in a queue that two alternating routing keys both reach', async () => {
    await redis.sadd('_kombu.binding.ox', `a${SEP}${SEP}oq`, `b${SEP}${SEP}oq`);
    const batcher = new PushBatcher(redis, '', SEP, POLICY, asError);
    const sent = [['a', 'o-1'], ['b', 'o-2'], ['a', 'o-3'], ['a', 'o-4'], ['b', 'o-5']] as const;
    const reached = await Promise.all(sent.map(([rk, tag]) => batcher.routeDirect('_kombu.binding.ox', rk, '', envelope(tag))));
    const stored = await redis.lrange('oq', 0, -1);
    expect([reached, stored.reverse()]).toEqual([sent.map(() => ['oq']), sent.map(([, tag]) => envelope(tag))]);
  });

  it('gives each direct publish of a group its own array of the queues reached', async () => {
    await redis.sadd('_kombu.binding.gx', `rk${SEP}${SEP}gq1`);
    const batcher = new PushBatcher(redis, '', SEP, POLICY, asError);
    const [first, second] = await Promise.all([
      batcher.routeDirect('_kombu.binding.gx', 'rk', '', envelope('r-1')),
      batcher.routeDirect('_kombu.binding.gx', 'rk', '', envelope('r-2')),
    ]);
    first.push('changed');
    expect([first, second, await redis.llen('gq1')]).toEqual([['gq1', 'changed'], ['gq1'], 2]);
  });
});

describe('ack coalescing', () => {
  it('forgets every record acked in one tick with a single ack call', async () => {
    const tags = Array.from({ length: 250 }, (_, i) => `a-${i}`);
    for (const tag of tags) await redis.zadd('unacked_index', 1, tag);
    await redis.hset('unacked', Object.fromEntries(tags.map((t) => [t, '[{}, "", ""]'])));
    const client = new Redis(redis.options);
    defineScripts(client);
    const counter = countCalls(client, 'kelpAck');
    const acks = new AckCoalescer(client, 'unacked', 'unacked_index');
    await Promise.all(tags.map((tag) => acks.ack([tag])));
    client.disconnect();
    expect([counter.calls, await redis.hlen('unacked'), await redis.zcard('unacked_index')]).toEqual([1, 0, 0]);
  });

  it('removes more tags than one unpack chunk holds', async () => {
    const tags = Array.from({ length: 2500 }, (_, i) => `c-${i}`);
    await redis.zadd('unacked_index', ...tags.flatMap((t) => [1, t]));
    await redis.hset('unacked', Object.fromEntries(tags.map((t) => [t, '[{}, "", ""]'])));
    await new AckCoalescer(redis, 'unacked', 'unacked_index').ack(tags);
    expect([await redis.hlen('unacked'), await redis.zcard('unacked_index')]).toEqual([0, 0]);
  });
});

describe('batched pop-and-record', () => {
  it('records a batch larger than one ZADD/HSET chunk, every entry with its envelope', async () => {
    const tags = Array.from({ length: 1500 }, (_, i) => `b-${i}`);
    await redis.lpush('bigq', ...tags.map(envelope));
    const got = await popAndRecord(
      redis,
      { unacked: 'big_unacked', unackedIndex: 'big_unacked_index', expiredDropped: 'dropped-expired', queues: [['bigq', `bigq${SEP}dead`]] },
      { now: 1795287474.5, limit: 2000, record: true },
    );
    expect([got.length, await redis.hlen('big_unacked'), await redis.zcard('big_unacked_index'), await redis.exists('bigq')]).toEqual([1500, 1500, 1500, 0]);
    expect(got.slice(0, 2).map((e) => (e.kind === 'message' ? e.deliveryTag : e.kind === 'dead' ? e.reason : e.kind))).toEqual(['b-0', 'b-1']);
    expect(await redis.hget('big_unacked', 'b-1499')).toBe(`[${envelope('b-1499')}, "fx", "rk"]`);
  });
});

describe('topic publishes checked against the binding set', () => {
  it('pushes to the queues matched with a copy that is still current', async () => {
    await redis.sadd('_kombu.binding.tx', `a.*${SEP}^a\\..*?[^\\.]$${SEP}tq1`);
    const members = await redis.smembers('_kombu.binding.tx');
    const reached = await new PushBatcher(redis, '', SEP, POLICY, asError).routeChecked('_kombu.binding.tx', members, ['tq1'], '', envelope('t-1'));
    expect([reached, await redis.lrange('tq1', 0, -1)]).toEqual([['tq1'], [envelope('t-1')]]);
  });

  it('pushes nothing and answers stale when the set changed since the copy was read', async () => {
    await redis.sadd('_kombu.binding.ty', `b.#${SEP}^b\\..*?$${SEP}tq2`);
    const members = await redis.smembers('_kombu.binding.ty');
    await redis.sadd('_kombu.binding.ty', `b.#${SEP}^b\\..*?$${SEP}tq3`);
    const reached = await new PushBatcher(redis, '', SEP, POLICY, asError).routeChecked('_kombu.binding.ty', members, ['tq2'], '', envelope('t-2'));
    expect([reached, await redis.exists('tq2')]).toEqual(['stale', 0]);
  });

  describe('through a channel', () => {
    let fx: RedisFixture;
    beforeAll(async () => {
      fx = await redisFixture();
    });
    afterAll(() => fx.close());

    it('reaches a queue that another process bound after the channel cached the bindings', async () => {
      const { channel } = await fx.newTransport();
      await channel.exchangeDeclare('tex', { type: 'topic' });
      await channel.queueDeclare('tqa', {});
      await channel.queueBind('tqa', 'tex', 'news.*');
      const first = await channel.basicPublish(message({ n: 1 }), 'tex', 'news.x');
      // Another process binds a second queue: the channel's copy is now stale.
      await fx.redis.sadd('_kombu.binding.tex', `news.#${SEP}^news\\..*?$${SEP}tqb`);
      const second = await channel.basicPublish(message({ n: 2 }), 'tex', 'news.x');
      const third = await channel.basicPublish(message({ n: 3 }), 'tex', 'news.x');
      expect([first.queues, second.queues.slice().sort(), third.queues.slice().sort()]).toEqual([['tqa'], ['tqa', 'tqb'], ['tqa', 'tqb']]);
      expect([await fx.redis.llen('tqa'), await fx.redis.llen('tqb')]).toEqual([3, 2]);
    });
  });
});
