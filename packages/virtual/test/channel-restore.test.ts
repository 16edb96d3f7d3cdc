/**
 * ChannelRestorer alone: where restored and requeued messages go, in which order, and what a
 * failure or a missing route does.
 */
import { ChannelError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { ChannelRestorer } from '../src/channel-restore.js';
import type { ChannelStorage } from '../src/channel-storage.js';
import { InflightWork } from '../src/inflight-work.js';
import { BrokerState, encodeEnvelope, parseVirtualTransportOptions, prepareBinding, TopicPatternCache, type VirtualTransportOptionsInput } from '../src/index.js';
import { message, TestStorage, TestStore } from './helpers/test-storage.js';

function setup(options: VirtualTransportOptionsInput = {}, change: (storage: TestStorage) => Partial<ChannelStorage> = () => ({})) {
  const store = new TestStore();
  const storage = new TestStorage(store);
  Object.assign(storage, change(storage));
  const brokerState = new BrokerState('testvh');
  const reported: { queue: string; reason: string }[] = [];
  const errors: unknown[] = [];
  let wakes = 0;
  let open = true;
  const inflight = new InflightWork();
  const restorer = new ChannelRestorer({
    storage,
    options: parseVirtualTransportOptions(options),
    brokerState,
    topicCache: new TopicPatternCache(),
    reports: { wake: () => void wakes++, reportDeadLettered: (info) => reported.push(info), reportExpired: () => undefined, reportError: (error) => errors.push(error) },
    inflight,
    isOpen: () => open,
  });
  return { store, storage, brokerState, restorer, reported, errors, inflight, wakes: () => wakes, close: () => void (open = false) };
}

const envelope = (body: string, tag: string, routingKey = 'q', exchange = '') => encodeEnvelope(message(body), exchange, routingKey, tag);

function deliver(store: TestStore, body: string, tag: string, routingKey = 'q', exchange = '') {
  store.unacked.set(tag, [envelope(body, tag, routingKey, exchange), exchange, routingKey]);
}

describe('resolveQueues (Kombu _lookup)', () => {
  it('routes the default exchange by routing key, a declared exchange by its stored bindings, else to deadletterQueue', async () => {
    const { restorer, brokerState, store } = setup({ deadletterQueue: 'dlq' });
    brokerState.declareExchange('dx', { type: 'direct' });
    store.tables.set('dx', [prepareBinding('direct', 'k', 'qa'), prepareBinding('direct', 'k', 'qb')]);
    expect(await restorer.resolveQueues('', 'q', '')).toEqual(['q']);
    expect(await restorer.resolveQueues('dx', 'k', '')).toEqual(['qa', 'qb']);
    expect(await restorer.resolveQueues('dx', 'nothing', '')).toEqual(['dlq']);
    expect(await restorer.resolveQueues('', '', '')).toEqual(['dlq']);
  });

  it('finds no queue for an unroutable message without a deadletterQueue', async () => {
    const { restorer } = setup();
    expect(await restorer.resolveQueues('', '', '')).toEqual([]);
  });
});

describe('restoreMany', () => {
  it('puts messages back at the head last delivered first, so they come out in delivery order', async () => {
    const { restorer, store, wakes } = setup();
    store.list('q').push(envelope('waiting', 'w'));
    deliver(store, 'first', 't1');
    deliver(store, 'second', 't2');
    await restorer.restoreMany([
      { deliveryTag: 't1', queue: 'q' },
      { deliveryTag: 't2', queue: 'q' },
    ]);
    expect(store.bodies('q')).toEqual(['first', 'second', 'waiting']);
    expect(store.unacked.size).toBe(0);
    expect(wakes()).toBe(1);
  });

  it('tries every message and then fails with how many could not be restored', async () => {
    const { restorer, store } = setup({}, (storage) => {
      const restore = storage.unacked.restore;
      return {
        unacked: {
          ...storage.unacked,
          restore: async (tag, options, resolve) => {
            if (tag !== 'ok') throw new Error(`lost link for ${tag}`);
            return restore(tag, options, resolve);
          },
        },
      };
    });
    deliver(store, 'fine', 'ok');
    const error = await restorer
      .restoreMany(['a', 'ok', 'b'].map((deliveryTag) => ({ deliveryTag, queue: 'q' })))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelError);
    expect((error as Error).message).toBe('Unable to restore 2 message(s); they stay unacked until the visibility timeout');
    expect(store.bodies('q')).toEqual(['fine']);
  });
});

describe('restoreTag', () => {
  it('dead-letters a message that has no route any more, in the queue it was delivered from, and reports it', async () => {
    const { restorer, store, brokerState, reported } = setup();
    brokerState.declareExchange('gone', { type: 'direct' });
    deliver(store, 'orphan', 't1', 'k', 'gone');
    await restorer.restoreTag('t1', false, 'from-q');
    const reason = "no route on restore: exchange 'gone' routing key 'k'";
    expect(store.dead.map((d) => [d.queue, d.reason])).toEqual([['from-q', reason]]);
    expect(reported).toEqual([{ queue: 'from-q', reason }]);
  });

  it('puts a rejected message at the back of its queue when leftmost', async () => {
    const { restorer, store } = setup();
    store.list('q').push(envelope('waiting', 'w'));
    deliver(store, 'rejected', 't1');
    await restorer.restoreTag('t1', true, 'q');
    expect(store.bodies('q')).toEqual(['waiting', 'rejected']);
  });
});

describe('requeueUndeliverable', () => {
  it('hands a batch taken in one turn back to the head in the order it was taken, through the records', async () => {
    const { restorer, store, inflight } = setup();
    store.list('q').push(envelope('published meanwhile', 'p'));
    deliver(store, 'first', 't1');
    deliver(store, 'second', 't2');
    const first = restorer.requeueUndeliverable({ queue: 'q', payload: envelope('first', 't1'), recorded: true });
    const again = restorer.requeueUndeliverable({ queue: 'q', payload: envelope('second', 't2'), recorded: true });
    expect(first).toBe(again);
    expect(inflight.size).toBe(1);
    await first;
    expect(store.bodies('q')).toEqual(['first', 'second', 'published meanwhile']);
    expect(store.unacked.size).toBe(0);
  });

  it('puts a message without a record at the back when the storage has no head put', async () => {
    const { restorer, store } = setup();
    store.list('q').push(envelope('published meanwhile', 'p'));
    await restorer.requeueUndeliverable({ queue: 'q', payload: envelope('taken', 't1'), recorded: false });
    expect(store.bodies('q')).toEqual(['published meanwhile', 'taken']);
  });

  it('uses the head put of a storage that has one, marked redelivered', async () => {
    const heads: string[] = [];
    const { restorer, store } = setup({}, () => ({ headPut: { putFront: async (queue, json) => void heads.push(`${queue}:${JSON.parse(json).properties.delivery_info.redelivered}`) } }));
    await restorer.requeueUndeliverable({ queue: 'q', payload: envelope('x', 't1'), recorded: false });
    expect(heads).toEqual(['q:true']);
    expect(store.queues.get('q')).toBeUndefined();
  });
});

describe('restoreVisible', () => {
  it('restores nothing and asks nothing of a storage without a visibility timeout', async () => {
    const { restorer } = setup();
    expect(await restorer.restoreVisible()).toBe(0);
  });

  it('counts the restored and dead-lettered messages, not the ones already gone', async () => {
    const { restorer, reported } = setup({}, (storage) => ({
      unacked: {
        ...storage.unacked,
        visibility: {
          extend: async () => undefined,
          restoreExpired: async () => [
            { status: 'restored', deliveryTag: 'a', queues: ['q'] },
            { status: 'missing', deliveryTag: 'b' },
            { status: 'dead-lettered', deliveryTag: 'c', queue: 'q', reason: 'no route' },
          ],
        },
      },
    }));
    expect(await restorer.restoreVisible()).toBe(2);
    expect(reported).toEqual([{ queue: 'q', reason: 'no route' }]);
  });

  it('does not start on a closed channel, and a stopped sweep resolves 0', async () => {
    let release: () => void = () => undefined;
    const { restorer, close } = setup({}, (storage) => ({
      unacked: {
        ...storage.unacked,
        visibility: {
          extend: async () => undefined,
          restoreExpired: async (_resolve, signal) => {
            await new Promise<void>((resolve) => (release = resolve));
            signal?.throwIfAborted();
            return [{ status: 'restored', deliveryTag: 'a', queues: ['q'] }];
          },
        },
      },
    }));
    const sweep = restorer.restoreVisible();
    restorer.stopSweep();
    release();
    expect(await sweep).toBe(0);
    close();
    expect(await restorer.restoreVisible()).toBe(0);
  });
});

describe('requeue (reject with requeue)', () => {
  /** A store whose requeues batch: records each requeueMany call, then restores tag by tag. */
  function batching(fail?: Error) {
    const calls: string[][] = [];
    const env = setup({}, (storage) => ({
      unacked: {
        ...storage.unacked,
        restore: storage.unacked.restore.bind(storage.unacked),
        requeues: {
          requeueMany: async (tags, resolve) => {
            calls.push([...tags]);
            if (fail) throw fail;
            return Promise.all(tags.map((tag) => storage.unacked.restore(tag, { leftmost: true }, resolve)));
          },
        },
      },
    }));
    return { ...env, calls };
  }

  it('sends the requeues of one tick to the store together, each to the back of its queue', async () => {
    const { restorer, store, calls } = batching();
    for (const tag of ['r1', 'r2', 'r3']) deliver(store, tag, tag);
    store.list('q').push(envelope('waiting', 'w0'));
    await Promise.all(['r1', 'r2', 'r3'].map((tag) => restorer.requeue(tag, 'q')));
    expect(calls).toEqual([['r1', 'r2', 'r3']]);
    expect(store.unacked.size).toBe(0);
    expect(store.bodies('q')).toEqual(['waiting', 'r1', 'r2', 'r3']);
  });

  it('rejects every caller of a batch the store refused, and leaves the records', async () => {
    const { restorer, store } = batching(new Error('broker said no'));
    for (const tag of ['f1', 'f2']) deliver(store, tag, tag);
    const outcomes = await Promise.allSettled(['f1', 'f2'].map((tag) => restorer.requeue(tag, 'q')));
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'ok'))).toEqual(['broker said no', 'broker said no']);
    expect([...store.unacked.keys()].sort()).toEqual(['f1', 'f2']);
  });

  it('restores alone a tag the batch could not settle, and fails only its own caller', async () => {
    const env = setup({}, (storage) => {
      const original = storage.unacked;
      return {
        unacked: {
          ...original,
          restore: async (tag, options, resolve) => {
            if (tag === 'u2') throw new Error('u2 kept changing');
            return original.restore(tag, options, resolve);
          },
          requeues: {
            // u2 changed between the read and the step: the store leaves it to the caller.
            requeueMany: async (tags, resolve) => Promise.all(tags.map((tag) => (tag === 'u2' ? undefined : original.restore(tag, { leftmost: true }, resolve)))),
          },
        },
      };
    });
    for (const tag of ['u1', 'u2', 'u3']) deliver(env.store, tag, tag);
    const outcomes = await Promise.allSettled(['u1', 'u2', 'u3'].map((tag) => env.restorer.requeue(tag, 'q')));
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'ok'))).toEqual(['ok', 'u2 kept changing', 'ok']);
    expect(env.store.bodies('q')).toEqual(['u1', 'u3']);
  });
});
