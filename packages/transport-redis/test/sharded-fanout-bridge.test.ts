/**
 * ShardedFanoutBridge against a fake pool and fake subscriber connections (the cluster test in
 * test/cluster/sharded-transport.test.ts runs it on real nodes): a subscribe that fails, as one
 * does while a subscriber reconnects (its offline queue is off), must not leave that exchange or
 * the ones after it unsubscribed for good, and an unbound queue gets no more copies.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BrokerState, type VirtualChannel } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { ClusterNodePool } from '../src/cluster-node-pool.js';
import { shardedKeys } from '../../../test/cluster/support/sharded-keys.js';
import { ShardedFanoutBridge } from '../src/sharded-fanout-bridge.js';

const keys = shardedKeys('');

class FakeSubscriber extends EventEmitter {
  readonly options = { port: 7000 };
  readonly subscribed = new Set<string>();
  /** Channels whose next SSUBSCRIBE fails once. */
  readonly failNext = new Set<string>();
  async ssubscribe(channel: string): Promise<number> {
    if (this.failNext.delete(channel)) throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
    this.subscribed.add(channel);
    return this.subscribed.size;
  }
  async sunsubscribe(channel: string): Promise<number> {
    this.subscribed.delete(channel);
    return this.subscribed.size;
  }
  disconnect(): void {}
}

function setup() {
  const subscriber = new FakeSubscriber();
  const node = { host: '127.0.0.1', port: 7000 };
  const pool = {
    forSlot: async () => subscriber,
    masterOf: () => node,
    followRedirect: () => false,
    refresh: async () => undefined,
    onReload: () => () => undefined,
    serves: () => true,
  } as unknown as ClusterNodePool;
  const brokerState = new BrokerState('0');
  const consumed = new Set<string>();
  const channel = { hasConsumers: true, consumedQueues: consumed } as unknown as VirtualChannel;
  const stored: string[] = [];
  const errors: unknown[] = [];
  const bridge = new ShardedFanoutBridge({
    pool,
    keys,
    brokerState,
    connect: () => subscriber as unknown as Redis,
    openChannels: () => [channel],
    store: async (queue, payload) => void stored.push(`${queue}:${payload}`),
    wake: () => undefined,
    reportError: (error) => errors.push(error),
  });
  const bind = (queue: string, exchange: string) => {
    brokerState.declareExchange(exchange, { type: 'fanout' });
    brokerState.addBinding({ queue, exchange, routingKey: '' });
    consumed.add(queue);
  };
  return { subscriber, brokerState, bridge, stored, errors, bind };
}

describe('ShardedFanoutBridge', () => {
  it('subscribes the exchanges after one whose subscribe failed, and that one on a later tick', async () => {
    const { subscriber, bridge, errors, bind } = setup();
    bind('qa', 'ex.a');
    bind('qb', 'ex.b');
    subscriber.failNext.add(keys.fanoutChannel('ex.a', ''));
    await bridge.sync();
    expect(errors).toHaveLength(1);
    expect([...subscriber.subscribed]).toEqual([keys.fanoutChannel('ex.b', '')]);
    // The retry waits a little (a reconnect takes a moment); then a tick subscribes the failed one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    bridge.maybeSync();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect([...subscriber.subscribed].sort()).toEqual([keys.fanoutChannel('ex.a', ''), keys.fanoutChannel('ex.b', '')]);
  });

  it('follows a bind and an unbind made after consuming started, on the next tick', async () => {
    const { subscriber, brokerState, bridge, stored, bind } = setup();
    await bridge.sync();
    expect(subscriber.subscribed.size).toBe(0);
    bind('qa', 'ex.a');
    bridge.maybeSync();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const name = keys.fanoutChannel('ex.a', '');
    expect([...subscriber.subscribed]).toEqual([name]);
    subscriber.emit('smessage', name, 'm1');
    brokerState.removeBinding({ queue: 'qa', exchange: 'ex.a', routingKey: '' });
    bridge.maybeSync();
    await new Promise((resolve) => setTimeout(resolve, 10));
    subscriber.emit('smessage', name, 'm2');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stored).toEqual(['qa:m1']);
    expect(subscriber.subscribed.size).toBe(0);
  });
});
