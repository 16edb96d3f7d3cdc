import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ClusterNodeAddress } from '../src/cluster-connector.js';
import type { ClusterNodePool } from '../src/cluster-node-pool.js';
import { endedShardChannel, ShardedFanoutSubscriptions } from '../src/sharded-fanout.js';

describe('endedShardChannel', () => {
  it("reads the channel of ioredis's report of a server-sent sunsubscribe, commas in the name included", () => {
    const report = (channel: string) => new Error(`Command queue state error. If you can reproduce this, please report it. Last reply: sunsubscribe,${channel},0`);
    expect(endedShardChannel(report('fm:/0.news'))).toBe('fm:/0.news');
    expect(endedShardChannel(report('a,b'))).toBe('a,b');
    expect(endedShardChannel(new Error('Command queue state error. Last reply: message,x,y'))).toBeUndefined();
    expect(endedShardChannel('sunsubscribe')).toBeUndefined();
  });
});

/** A subscriber connection stub: records its SSUBSCRIBEs and whether it was closed. */
class StubSubscriber extends EventEmitter {
  readonly subscribed: string[] = [];
  closed = false;
  constructor(readonly options: { port: number }) {
    super();
  }
  async ssubscribe(channel: string): Promise<number> {
    this.subscribed.push(channel);
    return this.subscribed.length;
  }
  async sunsubscribe(): Promise<number> {
    return 0;
  }
  disconnect(): void {
    this.closed = true;
  }
}

describe('ShardedFanoutSubscriptions', () => {
  function setup() {
    let master: ClusterNodeAddress = { host: '127.0.0.1', port: 7000 };
    let reload: (() => void) | undefined;
    const pool = {
      forSlot: async () => undefined,
      masterOf: () => master,
      followRedirect: () => false,
      refresh: async () => reload?.(),
      serves: (node: ClusterNodeAddress) => node.port === master.port,
      onReload: (listener: () => void) => {
        reload = listener;
        return () => (reload = undefined);
      },
    } as unknown as ClusterNodePool;
    const made: StubSubscriber[] = [];
    const subscriptions = new ShardedFanoutSubscriptions({
      pool,
      connect: (node) => {
        const stub = new StubSubscriber({ port: node.port });
        made.push(stub);
        return stub as unknown as Redis;
      },
      onMessage: () => undefined,
    });
    return { subscriptions, made, failOver: (port: number) => (master = { host: '127.0.0.1', port }), reload: () => reload?.() };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

  it('subscribes its channels again when their connection is ready after a reconnect (not on its first connect)', async () => {
    const { subscriptions, made } = setup();
    await subscriptions.subscribe('/0.news');
    const [stub] = made as [StubSubscriber];
    stub.emit('ready');
    await settle();
    expect(stub.subscribed).toEqual(['/0.news']);
    stub.emit('ready');
    await settle();
    expect(stub.subscribed).toEqual(['/0.news', '/0.news']);
    expect([...subscriptions.placements()]).toEqual([['/0.news', 7000]]);
  });

  it("closes the subscriber of a node that serves no slot after a reload, and places its channels on the slot's master now", async () => {
    const { subscriptions, made, failOver, reload } = setup();
    await subscriptions.subscribe('/0.news');
    failOver(7003);
    reload();
    await settle();
    expect(made.map((stub) => [stub.options.port, stub.closed, stub.subscribed])).toEqual([
      [7000, true, ['/0.news']],
      [7003, false, ['/0.news']],
    ]);
    expect([...subscriptions.placements()]).toEqual([['/0.news', 7003]]);
    subscriptions.close();
  });
});
