/**
 * What the sharded layout's pops, acks and records do when one queue's master fails or one tag
 * lives in two queues, on a real six-node cluster (issue 15 review): messages another master
 * popped and recorded are delivered, not stranded in unacked until the visibility timeout; one
 * publish routed to two queues on different masters is acked in both; a delivery the pop did not
 * record is recorded in its queue's own keys; an ack sent on a stale slot map meets MOVED and is
 * sent once more to the right master.
 */
import { describe, expect, it } from 'vitest';
import { Connection, Consumer, Exchange, Producer, Queue, type Message } from 'kelp';
import { queryClusterSlots } from '../../packages/transport-redis/src/cluster-connector.js';
import { ClusterNodePool } from '../../packages/transport-redis/src/cluster-node-pool.js';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { parseRedisTransportOptions } from '../../packages/transport-redis/src/options.js';
import { defineScripts } from '../../packages/transport-redis/src/scripts.js';
import { ShardedUnackedStore } from '../../packages/transport-redis/src/sharded-unacked.js';
import { CLUSTER_PASSWORD } from '../setup/cluster-topology.js';
import { drainUntil } from '../conformance/context.js';
import { shardedKeys } from './support/sharded-keys.js';
import { useShardedCluster } from './support/sharded-cluster.js';

const PREFIX = 'faults:';
const keys = shardedKeys(PREFIX);

const cluster = useShardedCluster(PREFIX);
const open = (extra: Record<string, unknown> = {}): Connection => cluster.open(extra);

const masterOf = async (queue: string): Promise<number> => (await cluster.topology.ownerOf(keySlot(keys.queueKey(queue)))).master;

/** A queue named `<stem>.<n>` whose master is not `other`'s. */
async function queueAwayFrom(other: string, stem: string): Promise<string> {
  const avoid = await masterOf(other);
  for (let n = 0; ; n++) if ((await masterOf(`${stem}.${n}`)) !== avoid) return `${stem}.${n}`;
}

/** `queue`'s unacked records and index entries, on its master. */
async function unackedOf(queue: string): Promise<{ records: number; index: number }> {
  const node = cluster.topology.nodeClient(await masterOf(queue));
  try {
    const own = keys.unackedKeys(queue);
    return { records: await node.hlen(own.unacked), index: await node.zcard(own.unackedIndex) };
  } finally {
    node.disconnect();
  }
}

/** A CLUSTER SLOTS reply that names `wrongPort` as the master of every slot. */
function wrongMap(wrongPort: number): unknown[] {
  return [[0, 16383, ['127.0.0.1', wrongPort, 'stale']]];
}

describe('sharded pops, acks and records under faults', () => {
  it('sends an ack that met MOVED once more to the master the reply names', async () => {
    const queue = 'fault.moved';
    const right = await masterOf(queue);
    const wrong = (await cluster.topology.masters()).find((port) => port !== right) as number;
    const seed = { host: '127.0.0.1', port: right };
    let lookups = 0;
    // The first lookup is stale (every slot on the wrong master), as after a resharding; later
    // lookups ask the cluster itself.
    const pool = new ClusterNodePool({
      seeds: [seed],
      credentials: { password: CLUSTER_PASSWORD },
      queryTimeoutMs: 2000,
      connect: (node) => {
        const client = cluster.topology.nodeClient(node.port);
        defineScripts(client);
        return client;
      },
      query: async (node, credentials, timeoutMs) => (lookups++ === 0 ? wrongMap(wrong) : await queryClusterSlots(node, credentials, timeoutMs)),
    });
    const store = new ShardedUnackedStore({
      pool,
      keys,
      options: parseRedisTransportOptions({ clusterLayout: 'sharded', globalKeyprefix: PREFIX }),
      wallClock: () => Date.now() / 1000,
    });
    const node = cluster.topology.nodeClient(right);
    try {
      const own = keys.unackedKeys(queue);
      await node.zadd(own.unackedIndex, Date.now() / 1000, 'tag-moved-1');
      await node.hset(own.unacked, 'tag-moved-1', '[{}, "", "fault.moved"]');
      store.remember('tag-moved-1', queue);
      await store.ack(['tag-moved-1']);
      expect(lookups).toBeGreaterThanOrEqual(2);
      expect(await unackedOf(queue)).toEqual({ records: 0, index: 0 });
    } finally {
      node.disconnect();
      pool.close();
    }
  }, 60_000);

  it("delivers what one master's pop took when another master's pop fails in the same take", async () => {
    const good = 'fault.good';
    const bad = await queueAwayFrom(good, 'fault.bad');
    const conn = open();
    const channel = await conn.channel();
    for (const name of [good, bad]) await new Queue(name).bind(channel).declare();
    const producer = new Producer(channel);
    for (let i = 0; i < 3; i++) await producer.publish({ id: `good-${i}` }, { exchange: '', routingKey: good });
    await producer.publish({ id: 'bad-0' }, { exchange: '', routingKey: bad });
    // The bad queue's unacked index is a string: its pop script fails (WRONGTYPE) on its master
    // while the good queue's pop, on another master, takes and records its three messages.
    const node = cluster.topology.nodeClient(await masterOf(bad));
    await node.set(keys.unackedKeys(bad).unackedIndex, 'not a sorted set');
    node.disconnect();

    const acked: string[] = [];
    const consumer = new Consumer(await conn.channel(), [new Queue(good), new Queue(bad)], {
      prefetchCount: 10,
      onMessage: (message: Message) => {
        const { id } = message.payload as { id: string };
        void message.ack().then(() => acked.push(id), () => undefined);
      },
    });
    await consumer.consume();
    await drainUntil(conn, () => acked.length >= 3, 5).catch(() => undefined);
    expect(acked.sort()).toEqual(['good-0', 'good-1', 'good-2']);
    expect(await unackedOf(good)).toEqual({ records: 0, index: 0 });
  }, 60_000);

  it('acks one publish routed to two queues on different masters in both queues', async () => {
    const first = 'fault.both.a';
    const second = await queueAwayFrom(first, 'fault.both.b');
    const conn = open();
    const channel = await conn.channel();
    const exchange = new Exchange('fault.direct', { type: 'direct' });
    await exchange.bind(channel).declare();
    for (const name of [first, second]) await new Queue(name, { exchange, routingKey: 'both' }).bind(channel).declare();
    await new Producer(channel).publish({ id: 'twice' }, { exchange, routingKey: 'both' });

    const deliveries: string[] = [];
    const consumer = new Consumer(await conn.channel(), [new Queue(first, { exchange, routingKey: 'both' }), new Queue(second, { exchange, routingKey: 'both' })], {
      prefetchCount: 10,
      onMessage: (message: Message) => {
        deliveries.push(message.deliveryInfo.queue ?? '');
        void message.ack().catch(() => undefined);
      },
    });
    await consumer.consume();
    await drainUntil(conn, () => deliveries.length >= 2, 5);
    await drainUntil(conn, () => false, 0.5).catch(() => undefined);
    expect(deliveries.sort()).toEqual([first, second].sort());
    expect(await unackedOf(first)).toEqual({ records: 0, index: 0 });
    expect(await unackedOf(second)).toEqual({ records: 0, index: 0 });
  }, 60_000);

  it("records a delivery the pop did not record in its queue's own keys, and acks it there", async () => {
    const queue = 'fault.record';
    const pool = new ClusterNodePool({
      seeds: [{ host: '127.0.0.1', port: cluster.topology.ports[0] as number }],
      credentials: { password: CLUSTER_PASSWORD },
      queryTimeoutMs: 2000,
      connect: (node) => {
        const client = cluster.topology.nodeClient(node.port);
        defineScripts(client);
        return client;
      },
    });
    const store = new ShardedUnackedStore({
      pool,
      keys,
      options: parseRedisTransportOptions({ clusterLayout: 'sharded', globalKeyprefix: PREFIX }),
      wallClock: () => Date.now() / 1000,
    });
    try {
      const envelope = JSON.stringify({ body: 'e30=', properties: { delivery_tag: 'tag-record-1' } });
      await store.record('tag-record-1', envelope, '', queue, queue);
      const node = cluster.topology.nodeClient(await masterOf(queue));
      const own = keys.unackedKeys(queue);
      expect(await node.hget(own.unacked, 'tag-record-1')).toBe(`[${envelope}, "", "${queue}"]`);
      expect(await node.zscore(own.unackedIndex, 'tag-record-1')).not.toBeNull();
      await store.ack(['tag-record-1']);
      expect(await unackedOf(queue)).toEqual({ records: 0, index: 0 });
      node.disconnect();
      // Without the queue there is no key to write it to: refused, not written anywhere.
      await expect(store.record('tag-record-2', envelope, '', queue)).rejects.toThrow(/sharded/);
    } finally {
      pool.close();
    }
  }, 60_000);
});
