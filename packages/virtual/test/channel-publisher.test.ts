/**
 * ChannelPublisher alone: which storage call a publish becomes, what a publish with no route
 * reports, and where a confirmed publish writes.
 */
import { describe, expect, it } from 'vitest';
import { ChannelPublisher } from '../src/channel-publisher.js';
import type { ChannelStorage } from '../src/channel-storage.js';
import { BrokerState, parseVirtualTransportOptions, prepareBinding, TopicPatternCache, type VirtualTransportOptionsInput } from '../src/index.js';
import { message, TestStorage, TestStore } from './helpers/test-storage.js';

function setup(options: VirtualTransportOptionsInput = {}, capabilities: Partial<ChannelStorage> = {}) {
  const store = new TestStore();
  const storage = Object.assign(new TestStorage(store), capabilities);
  const brokerState = new BrokerState('testvh');
  const publisher = new ChannelPublisher({ storage, options: parseVirtualTransportOptions(options), brokerState, topicCache: new TopicPatternCache() });
  return { store, brokerState, publisher };
}

describe('ChannelPublisher', () => {
  it('puts a default-exchange publish into the queue named by the routing key, with a fresh tag', async () => {
    const { publisher, store } = setup();
    const result = await publisher.publish(message('hi'), '', 'q');
    expect(result).toEqual({ status: 'routed', queues: ['q'], deliveryTag: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(store.calls).toEqual(['put q']);
  });

  it('routes a direct exchange in one broker step when the storage has one-step routing', async () => {
    const direct: string[] = [];
    const { publisher, brokerState, store } = setup({}, {
      routing: {
        putDirect: async (exchange, routingKey) => (direct.push(`${exchange}/${routingKey}`), ['qa']),
        putRouted: async () => [],
      },
    });
    brokerState.declareExchange('dx', { type: 'direct' });
    expect((await publisher.publish(message('m'), 'dx', 'k')).queues).toEqual(['qa']);
    expect([direct, store.calls]).toEqual([['dx/k'], []]);
  });

  it('reads the binding table and puts to each matching queue without it', async () => {
    const { publisher, brokerState, store } = setup();
    brokerState.declareExchange('tx', { type: 'topic' });
    store.tables.set('tx', [prepareBinding('topic', 'a.*', 'qa'), prepareBinding('topic', 'b.*', 'qb')]);
    expect((await publisher.publish(message('m'), 'tx', 'a.x')).queues).toEqual(['qa']);
    expect(store.bodies('qa')).toEqual(['m']);
  });

  it('reports a fanout nobody hears as unroutable with its subscriber count, or puts it in deadletterQueue when set', async () => {
    const fanout = { putFanout: async () => 0 };
    const plain = setup({}, { fanout });
    plain.brokerState.declareExchange('fx', { type: 'fanout' });
    expect(await plain.publisher.publish(message('m'), 'fx', '')).toMatchObject({ status: 'unroutable', queues: [], subscribers: 0 });
    const withDlq = setup({ deadletterQueue: 'dlq' }, { fanout });
    withDlq.brokerState.declareExchange('fx', { type: 'fanout' });
    expect(await withDlq.publisher.publish(message('m'), 'fx', '')).toMatchObject({ status: 'dead-lettered', queues: ['dlq'], subscribers: 0 });
    expect(withDlq.store.bodies('dlq')).toEqual(['m']);
  });

  it('writes a confirmed publish through replication.writes and then waits; a plain one through the storage', async () => {
    const confirmedPuts: string[] = [];
    const waits: Array<[number, number]> = [];
    const replication = {
      maxTimeout: 10,
      writes: { put: async (queue: string) => void confirmedPuts.push(queue) },
      waitForReplicas: async (replicas: number, timeout: number) => (waits.push([replicas, timeout]), 1),
    };
    const { publisher, brokerState, store } = setup({ deadletterQueue: 'dlq' }, { replication });
    brokerState.declareExchange('tx', { type: 'topic' });
    await publisher.publish(message('plain'), '', 'q');
    const direct = await publisher.publish(message('sure'), '', 'q', { replicas: 1, timeout: 2 });
    const unroutable = await publisher.publish(message('nowhere'), 'tx', 'a.b', { replicas: 1, timeout: 2 });
    expect([direct.replicas, unroutable.status, unroutable.replicas]).toEqual([1, 'dead-lettered', 1]);
    expect([store.calls, confirmedPuts, waits]).toEqual([['put q'], ['q', 'dlq'], [[1, 2], [1, 2]]]);
  });

  it("gives each confirmed publish the storage's own scope when it has one: its writes, then its wait", async () => {
    const log: string[] = [];
    let scopes = 0;
    const replication = {
      maxTimeout: 10,
      writes: { put: async () => void log.push('shared put') },
      waitForReplicas: async () => (log.push('shared wait'), 1),
      forPublish: () => {
        const scope = ++scopes;
        return {
          maxTimeout: 10,
          writes: { put: async (queue: string) => void log.push(`put ${queue} in scope ${scope}`) },
          waitForReplicas: async () => (log.push(`wait in scope ${scope}`), 2),
        };
      },
    };
    const { publisher } = setup({}, { replication });
    const results = await Promise.all(['a', 'b'].map((queue) => publisher.publish(message('m'), '', queue, { replicas: 2, timeout: 1 })));
    expect(results.map((result) => result.replicas)).toEqual([2, 2]);
    expect(log.sort()).toEqual(['put a in scope 1', 'put b in scope 2', 'wait in scope 1', 'wait in scope 2']);
  });
});
