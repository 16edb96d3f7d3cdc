/**
 * The admin logic written once for every transport, over an in-test AdminStorage: routing without
 * a declared type, the restore decision and report, and the dead-letter requeue.
 */
import { ConfigurationError, type ExchangeType } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import {
  AdminRouter,
  type AdminStorage,
  type BindingRow,
  DELIVERY_COUNT_HEADER,
  encodeEnvelope,
  planRestore,
  prepareBinding,
  type RestoredMessage,
  VirtualAdmin,
} from '../src/index.js';
import { message } from './helpers/test-storage.js';

function routing(tables: Record<string, BindingRow[]>, declared: Record<string, ExchangeType> = {}) {
  const reads: string[] = [];
  return {
    reads,
    bindings: async (exchange: string) => {
      reads.push(exchange);
      return tables[exchange] ?? [];
    },
    declaredType: (exchange: string) => declared[exchange],
  };
}

describe('AdminRouter', () => {
  it('routes an undeclared exchange as topic when a binding carries a pattern, reading its table once', async () => {
    const source = routing({ logs: [prepareBinding('topic', 'app.#', 'all'), prepareBinding('topic', 'app.error', 'errors')] });
    const router = new AdminRouter(source);
    expect(await router.route('logs', 'app.error')).toEqual(['all', 'errors']);
    expect(await router.route('logs', 'app.info')).toEqual(['all']);
    expect(source.reads).toEqual(['logs']);
  });

  it('routes by the declared type when the transport keeps one', async () => {
    const router = new AdminRouter(routing({ news: [prepareBinding('fanout', 'x', 'a'), prepareBinding('fanout', 'y', 'b')] }, { news: 'fanout' }));
    expect(await router.route('news', 'anything')).toEqual(['a', 'b']);
  });

  it('counts an unroutable message under the queue its routing key names', async () => {
    const router = new AdminRouter(routing({}));
    expect([await router.route('gone', 'rk'), await router.ownersOf('gone', 'rk'), await router.ownersOf('gone', '')]).toEqual([[], ['rk'], ['gone']]);
  });
});

describe('planRestore', () => {
  it('dead-letters a message with no route to its routing key queue, with the reason', () => {
    expect(planRestore({ exchange: 'ex', routingKey: 'rk', queues: [] })).toEqual({
      action: 'dead-letter',
      queue: 'rk',
      reason: "no route on restore: exchange 'ex' routing key 'rk'",
    });
  });

  it('skips messages the asked-for queue does not own', () => {
    expect([
      planRestore({ exchange: 'ex', routingKey: 'rk', queues: ['a', 'b'] }, 'b'),
      planRestore({ exchange: 'ex', routingKey: 'rk', queues: ['a'] }, 'b'),
      planRestore({ exchange: 'ex', routingKey: 'rk', queues: [] }, 'b'),
    ]).toEqual([{ action: 'restore', queues: ['a', 'b'] }, { action: 'skip' }, { action: 'skip' }]);
  });
});

/** An AdminStorage whose dead letters are an array of raw texts (the handle is the index). */
function storage(deadLetters: string[], moved: RestoredMessage[] = []): AdminStorage<number> & { requeued: string[] } {
  const requeued: string[] = [];
  return {
    requeued,
    visibilityTimeout: 60,
    now: () => 1000,
    ...routing({}),
    exchangeNames: async () => [],
    queueNames: async () => [],
    queueDepth: async () => ({ steps: new Map(), deadLetters: deadLetters.length }),
    unackedMessages: async () => [],
    unackedTotal: async () => 0,
    restoreExpired: async () => moved,
    deadLetters: async (queue) => deadLetters.map((raw, handle) => ({ entry: { queue, reason: 'r', raw, rawEncoding: 'utf8' as const }, handle })),
    moveDeadLetter: async (_queue, _handle, envelope) => {
      requeued.push(envelope.json);
      return true;
    },
    // The one-message repairs the dashboard uses; these tests never reach them.
    removeDeadLetter: unused,
    stepLength: unused,
    waitingRange: unused,
    removeWaiting: unused,
    moveWaiting: unused,
    purgeQueue: unused,
    unackedRange: unused,
    restoreTag: unused,
  };
}

function unused(): never {
  throw new Error('not used by these tests');
}

describe('VirtualAdmin', () => {
  it('requeues valid dead letters up to the limit without their delivery count, and counts the invalid ones it passed', async () => {
    const valid = (n: string) => {
      const data = JSON.parse(encodeEnvelope(message(n), '', 'q', `tag-${n}`)) as { headers: Record<string, unknown> };
      data.headers[DELIVERY_COUNT_HEADER] = 3;
      return JSON.stringify(data);
    };
    const store = storage(['not json', valid('a'), valid('b'), valid('c')]);
    expect(await new VirtualAdmin(store).requeueDeadLetters('q', { limit: 2 })).toEqual({ requeued: 2, skipped: 1 });
    const back = store.requeued.map((json) => JSON.parse(json) as { headers: Record<string, unknown>; properties: { delivery_tag: string } });
    expect(back.map((e) => [e.properties.delivery_tag, DELIVERY_COUNT_HEADER in e.headers])).toEqual([
      ['tag-a', false],
      ['tag-b', false],
    ]);
  });

  it('reports a restore per queue in name order, dead letters apart and only when there are some', async () => {
    const moved: RestoredMessage[] = [
      { status: 'restored', queues: ['b', 'a'] },
      { status: 'restored', queues: ['a'] },
      { status: 'dead-lettered', queues: ['rk'] },
    ];
    expect(await new VirtualAdmin(storage([], moved)).restore({ olderThan: 5 })).toEqual({
      dryRun: false,
      olderThan: 5,
      restored: [
        { queue: 'a', count: 2 },
        { queue: 'b', count: 1 },
      ],
      total: 2,
      deadLettered: [{ queue: 'rk', count: 1 }],
    });
    expect(await new VirtualAdmin(storage([], [])).restore()).toEqual({ dryRun: false, olderThan: 60, restored: [], total: 0 });
  });

  it('refuses a negative threshold, naming the option', async () => {
    await expect(new VirtualAdmin(storage([])).restore({ olderThan: -1 })).rejects.toThrow(ConfigurationError);
    await expect(new VirtualAdmin(storage([])).restore({ olderThan: -1 })).rejects.toThrow(/olderThan/);
  });
});
