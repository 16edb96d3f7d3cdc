/**
 * Queue length limits on Redis at the key level (docs/wire-format.md#length-limits): the limits
 * live in the queue's argument hash, and the publish script applies them to every publish of a
 * tick, including the runs of one batched call.
 */
import type { PublishResult } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEP, message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

const idsIn = async (key: string): Promise<unknown[]> => (await fx.redis.lrange(key, 0, -1)).reverse().map((e) => JSON.parse(e).properties.message_id);

describe('the queue argument hash', () => {
  it('holds the limits a declaration gives, for every publisher to read', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('lim.args', { arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish', 'x-dead-letter': true } });
    expect(await fx.redis.hgetall('_kelp.queue.lim.args')).toEqual({ 'x-max-length': '2', 'x-overflow': 'reject-publish', 'x-dead-letter': '1' });
  });
});

describe('publishes of one tick', () => {
  it('refuses those past the limit with reject-publish, in publish order', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('lim.reject', { arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
    const results: PublishResult[] = await Promise.all([1, 2, 3, 4, 5].map((n) => channel.basicPublish(message({ n }, { messageId: `m-${n}` }), '', 'lim.reject')));
    expect(results.map((r) => r.status)).toEqual(['routed', 'routed', 'rejected', 'rejected', 'rejected']);
    expect(results[4]?.rejected).toEqual(['lim.reject']);
    expect(await idsIn('lim.reject')).toEqual(['m-1', 'm-2']);
  });

  it('drops the heads past the limit with drop-head and counts them under the dead-letter key', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('lim.drop', { arguments: { 'x-max-length': 3 } });
    await Promise.all([1, 2, 3, 4, 5].map((n) => channel.basicPublish(message({ n }, { messageId: `m-${n}` }), '', 'lim.drop')));
    expect(await idsIn('lim.drop')).toEqual(['m-3', 'm-4', 'm-5']);
    expect(await fx.redis.hget('_kelp.dropped.maxlen', `lim.drop${SEP}dead`)).toBe('2');
  });

  it('drops the next message to be consumed: the oldest of the lowest priority step first', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('lim.prio', { arguments: { 'x-max-length': 2, 'x-dead-letter': true } });
    await channel.basicPublish(message({ n: 1 }, { messageId: 'late-step', priority: 9 }), '', 'lim.prio');
    await channel.basicPublish(message({ n: 2 }, { messageId: 'first-step-0', priority: 0 }), '', 'lim.prio');
    await channel.basicPublish(message({ n: 3 }, { messageId: 'second-step-0', priority: 0 }), '', 'lim.prio');
    expect([await idsIn('lim.prio'), await idsIn(`lim.prio${SEP}9`)]).toEqual([['second-step-0'], ['late-step']]);
    const dead = (await fx.redis.lrange(`lim.prio${SEP}dead`, 0, -1)).map((r) => JSON.parse(r));
    expect(dead.map((r) => [r.reason, r.queue, JSON.parse(r.payload).properties.message_id])).toEqual([['maxlen', 'lim.prio', 'first-step-0']]);
  });
});

describe('runs of one call to a limited queue', () => {
  it('counts what an earlier run of the same call stored: a later run that goes over drops', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('lim.runs', { arguments: { 'x-max-length': 3 } });
    await channel.queueDeclare('lim.runs.other', {});
    // One tick: runs [a-1, a-2], [b-1], [a-3, a-4] of one script call.
    const plan: Array<[string, string]> = [['lim.runs', 'a-1'], ['lim.runs', 'a-2'], ['lim.runs.other', 'b-1'], ['lim.runs', 'a-3'], ['lim.runs', 'a-4']];
    const results = await Promise.all(plan.map(([queue, id]) => channel.basicPublish(message({ id }, { messageId: id }), '', queue)));
    expect(results.map((r) => r.status)).toEqual(['routed', 'routed', 'routed', 'routed', 'routed']);
    expect(await idsIn('lim.runs')).toEqual(['a-2', 'a-3', 'a-4']);
    expect(await idsIn('lim.runs.other')).toEqual(['b-1']);
    expect(await fx.redis.hget('_kelp.dropped.maxlen', `lim.runs${SEP}dead`)).toBe('1');
  });

  it('fails only the publishes to a limited queue whose list is of another type, not the whole call', async () => {
    const { channel } = await fx.newTransport();
    await channel.queueDeclare('lim.wrong', { arguments: { 'x-max-length': 5 } });
    await channel.queueDeclare('lim.fine', {});
    await fx.redis.set('lim.wrong', 'not a list');
    const [fine, wrong] = await Promise.allSettled([
      channel.basicPublish(message({ id: 'f-1' }, { messageId: 'f-1' }), '', 'lim.fine'),
      channel.basicPublish(message({ id: 'w-1' }, { messageId: 'w-1' }), '', 'lim.wrong'),
    ]);
    expect(fine.status === 'fulfilled' ? fine.value.status : fine.reason).toBe('routed');
    expect(wrong.status).toBe('rejected');
    expect(String((wrong as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(await idsIn('lim.fine')).toEqual(['f-1']);
    expect(await fx.redis.get('lim.wrong')).toBe('not a list');
  });
});
