import { describe, expect, it } from 'vitest';
import { RedisKeys, type KeyOptions } from '../src/keys.js';
import { ConfigurationError } from '@kelp/core';
import { keySlot } from '../src/cluster-slot.js';

const SEP = '\x06\x16';
const defaults: KeyOptions = {
  sep: SEP,
  prioritySteps: [0, 3, 6, 9],
  globalKeyprefix: '',
  unackedKey: 'unacked',
  unackedIndexKey: 'unacked_index',
  unackedMutexKey: 'unacked_mutex',
  fanoutPrefix: true,
  fanoutPatterns: true,
  db: 0,
};
const keys = (over: Partial<KeyOptions> = {}) => new RedisKeys({ ...defaults, ...over });

describe('RedisKeys', () => {
  it('maps priorities to the largest step not above them, clamped to 0..9', () => {
    const k = keys();
    expect([0, 1, 2, 3, 5, 6, 8, 9, 313, -4].map((p) => k.priorityStep(p))).toEqual([0, 0, 0, 3, 3, 6, 6, 9, 9, 0]);
  });

  it('treats non-numeric priorities as 0 and truncates numeric strings and floats like Python int()', () => {
    const k = keys();
    expect([undefined, null, 'x', '5', 4.7].map((p) => k.priorityStep(p))).toEqual([0, 0, 0, 3, 3]);
  });

  it('wraps a priority below the first custom step to the last step, as bisect_right does', () => {
    expect(keys({ prioritySteps: [2, 5] }).priorityStep(1)).toBe(5);
  });

  it('names step lists with sep and the step number, bare for step 0', () => {
    expect(keys().queueKeys('myq')).toEqual(['myq', `myq${SEP}3`, `myq${SEP}6`, `myq${SEP}9`]);
  });

  it('orders pop keys by step first and queue order second', () => {
    expect(keys().popKeys(['qc', 'qa'])).toEqual(['qc', 'qa', `qc${SEP}3`, `qa${SEP}3`, `qc${SEP}6`, `qa${SEP}6`, `qc${SEP}9`, `qa${SEP}9`]);
  });

  it('builds binding members as rk SEP pattern SEP queue and parses them back', () => {
    const k = keys();
    const member = k.bindingMember({ routingKey: 'stock.#', pattern: '^stock\\..*?$', queue: 'qb' });
    expect(member).toBe(`stock.#${SEP}^stock\\..*?$${SEP}qb`);
    expect(k.parseBindingMember(member)).toEqual({ routingKey: 'stock.#', pattern: '^stock\\..*?$', queue: 'qb' });
  });

  it('prefixes the binding set key but never its members', () => {
    const k = keys({ globalKeyprefix: 'pre:' });
    expect(k.bindingKey('pex')).toBe('pre:_kombu.binding.pex');
    expect(k.bindingMember({ routingKey: 'prk', pattern: '', queue: 'pq' })).toBe(`prk${SEP}${SEP}pq`);
  });

  it('prefixes queue lists and the three ack keys with globalKeyprefix', () => {
    const k = keys({ globalKeyprefix: 'pre:' });
    expect([k.queueKeyForPriority('pq', 7), k.unacked, k.unackedIndex, k.unackedMutex]).toEqual([
      `pre:pq${SEP}6`,
      'pre:unacked',
      'pre:unacked_index',
      'pre:unacked_mutex',
    ]);
  });

  it('builds fanout channels with the db prefix and the routing key suffix', () => {
    const k = keys({ db: 3 });
    expect([k.fanoutChannel('fx', ''), k.fanoutChannel('fx', 'news.sports'), k.fanoutPattern('fx', 'news.#')]).toEqual([
      '/3.fx',
      '/3.fx/news.sports',
      '/3.fx/news.*',
    ]);
  });

  it('ignores the routing key in fanout channels when fanoutPatterns is off', () => {
    expect(keys({ fanoutPatterns: false }).fanoutChannel('fx', 'rk')).toBe('/0.fx');
  });

  it('puts globalKeyprefix in front of the fanout prefix', () => {
    expect(keys({ globalKeyprefix: 'pre:' }).fanoutChannel('pfx', '')).toBe('pre:/0.pfx');
  });

  it('uses a custom or empty fanout prefix', () => {
    expect([keys({ fanoutPrefix: '/x.' }).fanoutChannel('e', ''), keys({ fanoutPrefix: false }).fanoutChannel('e', '')]).toEqual(['/x.e', 'e']);
  });

  it('keeps the literal {db} of the fanout prefix as Kombu 5.2.4 does on sentinel://', () => {
    const k = keys({ db: 3, literalFanoutDb: true });
    expect([k.fanoutChannel('fx', ''), k.exchangeFromChannel('/{db}.fx')]).toEqual(['/{db}.fx', 'fx']);
  });

  it('recovers the exchange from a pub/sub channel name', () => {
    const k = keys({ globalKeyprefix: 'pre:', db: 3 });
    expect([k.exchangeFromChannel('pre:/3.celery.pidbox'), k.exchangeFromChannel('pre:/3.fx/news.sports')]).toEqual(['celery.pidbox', 'fx']);
  });

  it('strips the prefix and a step suffix from a popped key', () => {
    const k = keys({ globalKeyprefix: 'pre:' });
    expect([k.queueFromKey(`pre:pq${SEP}6`), k.queueFromKey('pre:pq'), k.queueFromKey(`pre:a${SEP}b`)]).toEqual(['pq', 'pq', `a${SEP}b`]);
  });

  it('names the dead-letter list after the queue', () => {
    expect(keys({ globalKeyprefix: 'p:' }).deadLetterKey('q')).toBe(`p:q${SEP}dead`);
  });

  it("gives every queue the one global delayed index (Kombu's layout has no per-queue one)", () => {
    const k = keys({ globalKeyprefix: 'p:' });
    expect([k.delayedIndexOf('a'), k.delayedIndexOf('b')]).toEqual(['p:_kelp.delayed_index', 'p:_kelp.delayed_index']);
  });
});

describe('RedisKeys, sharded layout', () => {
  const sharded = (over: Partial<KeyOptions> = {}) => keys({ layout: 'sharded', globalKeyprefix: 'app:', ...over });
  /** Every key a queue owns in the sharded layout. */
  const queueOwned = (k: RedisKeys, queue: string) => {
    const unacked = k.unackedKeys(queue);
    return [
      ...k.queueKeys(queue),
      k.deadLetterKey(queue),
      k.queueArgumentsKey(queue),
      k.delayedKey(queue),
      k.delayedIndexOf(queue),
      unacked.unacked,
      unacked.unackedIndex,
      unacked.unackedMutex,
      k.droppedKeyOf(queue, 'expired'),
      k.droppedKeyOf(queue, 'maxlen'),
    ];
  };

  it("wraps the queue in a hash tag in every key the queue owns", () => {
    const k = sharded();
    expect(queueOwned(k, 'orders')).toEqual([
      'app:{orders}',
      `app:{orders}${SEP}3`,
      `app:{orders}${SEP}6`,
      `app:{orders}${SEP}9`,
      `app:{orders}${SEP}dead`,
      'app:_kelp.queue.{orders}',
      'app:_kelp.delayed.{orders}',
      'app:_kelp.delayed_index.{orders}',
      `app:{orders}${SEP}unacked`,
      `app:{orders}${SEP}unacked_index`,
      `app:{orders}${SEP}unacked_mutex`,
      'app:_kelp.dropped.expired.{orders}',
      'app:_kelp.dropped.maxlen.{orders}',
    ]);
  });

  it('puts all of a queue\'s keys in one slot, and 100 queues over many slots on every third of the slot range', () => {
    const k = sharded();
    const queues = Array.from({ length: 100 }, (_, i) => `q.${i}`);
    for (const queue of queues) {
      const slots = new Set(queueOwned(k, queue).map((key) => keySlot(key)));
      expect(slots).toEqual(new Set([k.queueSlot(queue)]));
    }
    const slots = queues.map((queue) => k.queueSlot(queue));
    expect(new Set(slots).size).toBeGreaterThan(95);
    // redis-cli --cluster create gives 3 masters a third of the slots each.
    const thirds = [0, 0, 0];
    for (const slot of slots) thirds[Math.min(2, Math.floor(slot / 5462))]! += 1;
    for (const count of thirds) expect(count).toBeGreaterThan(20);
  });

  it('reads the queue back from any of its keys', () => {
    const k = sharded();
    const unacked = k.unackedKeys('a.b');
    for (const key of [k.queueKey('a.b'), k.queueKey('a.b', 6), k.deadLetterKey('a.b'), unacked.unacked]) expect(k.queueFromKey(key)).toBe('a.b');
  });

  it('orders pop keys by step first, as the flat layout does', () => {
    expect(sharded({ globalKeyprefix: '' }).popKeys(['qc', 'qa']).slice(0, 4)).toEqual(['{qc}', '{qa}', `{qc}${SEP}3`, `{qa}${SEP}3`]);
  });

  it('gives the publish script the policy names of the flat layout plus the per-queue drop-count separator', () => {
    const flat = keys({ globalKeyprefix: 'app:' }).queuePolicyNames();
    expect(flat.droppedQueueSeparator).toBeUndefined();
    const names = sharded().queuePolicyNames();
    expect(names).toEqual({ ...flat, droppedQueueSeparator: '.' });
    // What the script builds from them (the queue names it is sent carry the tag) is droppedKeyOf.
    expect(`${names.droppedPrefix}maxlen${names.droppedQueueSeparator}${sharded().shardName('q')}`).toBe(sharded().droppedKeyOf('q', 'maxlen'));
  });

  it('refuses a queue name that would not be one hash tag, and a prefix with a brace', () => {
    const k = sharded();
    for (const bad of ['', 'a}b', '}', 'a{b']) expect(() => k.queueKey(bad)).toThrow(ConfigurationError);
    expect(() => sharded({ globalKeyprefix: '{kelp}:' })).toThrow(/holds a brace/);
  });

  it('scopes the unacked trio to one queue for the restore code, leaving the rest of the names as they are', () => {
    const k = sharded();
    const scoped = k.scopedToQueue('orders');
    expect([scoped.unacked, scoped.unackedIndex, scoped.unackedMutex, scoped.unackedOwner]).toEqual([
      `app:{orders}${SEP}unacked`,
      `app:{orders}${SEP}unacked_index`,
      `app:{orders}${SEP}unacked_mutex`,
      'orders',
    ]);
    expect([scoped.queueKey('orders', 3), scoped.deadLetterKey('orders')]).toEqual([k.queueKey('orders', 3), k.deadLetterKey('orders')]);
    expect([k.unacked, k.unackedOwner]).toEqual(['app:unacked', undefined]);
  });

  it('leaves the flat layout unchanged: one global unacked trio, and no tag', () => {
    const k = keys({ globalKeyprefix: '{kelp}:' });
    expect(k.unackedKeys('orders')).toEqual({ unacked: '{kelp}:unacked', unackedIndex: '{kelp}:unacked_index', unackedMutex: '{kelp}:unacked_mutex' });
    expect([k.queueKey('orders', 3), k.deadLetterKey('orders'), k.queueArgumentsKey('orders'), k.delayedKey('orders'), k.droppedKeyOf('orders', 'expired')]).toEqual([
      `{kelp}:orders${SEP}3`,
      `{kelp}:orders${SEP}dead`,
      '{kelp}:_kelp.queue.orders',
      '{kelp}:_kelp.delayed.orders',
      '{kelp}:_kelp.dropped.expired',
    ]);
    expect(k.queueFromKey(`{kelp}:orders${SEP}9`)).toBe('orders');
  });
});
