/**
 * The sharded layout's storage on a real six-node cluster (issue 15, item 3), below the transport
 * (sharded-transport.test.ts runs the transport itself): 100 queues in the sharded key layout, pushed, popped and
 * recorded, and acked on the master of each queue's slot through the per-node connection pool.
 * Measures the spread (each master's share of the commands within 25% of an even share, from
 * INFO commandstats) and counts CROSSSLOT errors (INFO errorstats), and follows a queue's slot
 * through a resharding with MOVED.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterNodePool } from '../../packages/transport-redis/src/cluster-node-pool.js';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { ShardedFanoutSubscriptions } from '../../packages/transport-redis/src/sharded-fanout.js';
import { inspectEveryShard } from '../../packages/transport-redis/src/sharded-inspect.js';
import { ShardedPublishing } from '../../packages/transport-redis/src/sharded-publishing.js';
import { restoreEveryShard } from '../../packages/transport-redis/src/sharded-restore.js';
import { ackTags, call, defineScripts, parsePopReply, popAndRecordArgs } from '../../packages/transport-redis/src/scripts.js';
import { CLUSTER_PASSWORD, startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';
import { SEP, shardedKeys } from './support/sharded-keys.js';

const QUEUES = Array.from({ length: 100 }, (_, i) => `spread.${i}`);
const PER_QUEUE = 10;
/** Commands a test harness sends (stats, topology); not kelp's work. */
const HARNESS_COMMANDS = new Set(['config', 'info', 'cluster', 'client', 'auth', 'hello', 'ping', 'select', 'command', 'readonly']);
const keys = shardedKeys('sh:');

let topology: ClusterTopology;
let pool: ClusterNodePool;
/** A pool of its own: what another process's connections are. */
const newPool = () =>
  new ClusterNodePool({
    seeds: [{ host: '127.0.0.1', port: topology.ports[0] as number }],
    credentials: { password: CLUSTER_PASSWORD },
    queryTimeoutMs: 2000,
    connect: (node) => {
      const client = new Redis({ host: node.host, port: node.port, password: CLUSTER_PASSWORD, maxRetriesPerRequest: 0 });
      client.on('error', () => undefined);
      defineScripts(client);
      return client;
    },
  });
const pools: ClusterNodePool[] = [];
beforeAll(async () => {
  topology = await startClusterTopology();
  pool = newPool();
  pools.push(pool);
}, 60_000);
afterAll(async () => {
  for (const each of pools) each.close();
  await topology?.stop();
});

const envelope = (queue: string, n: number, priority: number): string =>
  JSON.stringify({
    body: Buffer.from(JSON.stringify({ n })).toString('base64'),
    'content-type': 'application/json',
    'content-encoding': 'utf-8',
    headers: {},
    properties: { delivery_tag: `${queue}#${n}`, delivery_info: { exchange: '', routing_key: queue }, body_encoding: 'base64', priority },
  });

/** One node's INFO section as name -> value. */
async function infoSection(port: number, section: string): Promise<Map<string, string>> {
  const client = topology.nodeClient(port);
  try {
    const text = await client.info(section);
    return new Map(text.split('\r\n').filter((line) => line.includes(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]));
  } finally {
    client.disconnect();
  }
}

/** Calls of every command but the harness's, from INFO commandstats. */
async function kelpCalls(port: number): Promise<number> {
  let calls = 0;
  for (const [name, value] of await infoSection(port, 'commandstats')) {
    const command = name.replace(/^cmdstat_/, '').split('|')[0] as string;
    if (!HARNESS_COMMANDS.has(command)) calls += Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
  }
  return calls;
}

/** Pops everything of `queue` on its master and records it in the queue's own unacked keys. */
async function popQueue(queue: string, k = keys) {
  const unacked = k.unackedKeys(queue);
  const args = popAndRecordArgs(
    {
      unacked: unacked.unacked,
      unackedIndex: unacked.unackedIndex,
      queues: k.steps.map((step) => [k.queueKey(queue, step), k.deadLetterKey(queue)] as const),
      expiredDropped: k.droppedKeyOf(queue, 'expired'),
    },
    { now: Date.now() / 1000, limit: 100, record: true },
  );
  return parsePopReply(await call(await pool.forSlot(k.queueSlot(queue)), 'popAndRecord', args));
}

describe('the sharded layout on a cluster', () => {
  it('spreads 100 queues over the three masters: pop-and-record and acks run on each queue\'s master, no CROSSSLOT', async () => {
    const masters = await topology.masters();
    expect(masters).toHaveLength(3);
    for (const port of topology.ports) await topology.nodeClient(port).config('RESETSTAT').finally(() => undefined);

    // Publish: one pipeline per master, each queue's messages on the master of its slot (one
    // message in four at priority 6, so the sub-lists are used too).
    const groups = await pool.group(QUEUES, (queue) => keys.queueSlot(queue));
    expect(groups.size).toBe(3);
    for (const [client, queues] of groups) {
      const pipeline = client.pipeline();
      for (const queue of queues) {
        for (let n = 0; n < PER_QUEUE; n++) pipeline.lpush(keys.queueKeyForPriority(queue, n % 4 === 0 ? 6 : 0), envelope(queue, n, n % 4 === 0 ? 6 : 0));
      }
      const replies = (await pipeline.exec()) ?? [];
      expect(replies.filter(([error]) => error !== null)).toEqual([]);
    }

    // Consume and ack each queue on its master, with its own unacked keys.
    let acked = 0;
    const perMaster = new Map<number, number>();
    for (const queue of QUEUES) {
      const entries = await popQueue(queue);
      const tags = entries.map((entry) => (entry.kind === 'message' ? entry.deliveryTag : `unexpected ${entry.kind}`));
      expect(new Set(entries.map((entry) => keys.queueFromKey(entry.key)))).toEqual(new Set([queue]));
      expect(tags.sort()).toEqual(Array.from({ length: PER_QUEUE }, (_, n) => `${queue}#${n}`).sort());
      // The records are where the queue's slot is served, in the queue's own hash.
      const owner = (await topology.ownerOf(keys.queueSlot(queue))).master;
      const node = topology.nodeClient(owner);
      try {
        expect(await node.hlen(keys.unackedKeys(queue).unacked)).toBe(PER_QUEUE);
      } finally {
        node.disconnect();
      }
      const unacked = keys.unackedKeys(queue);
      acked += await ackTags(await pool.forSlot(keys.queueSlot(queue)), unacked.unacked, unacked.unackedIndex, tags);
      perMaster.set(owner, (perMaster.get(owner) ?? 0) + 1);
    }
    expect(acked).toBe(QUEUES.length * PER_QUEUE);

    const calls = new Map<number, number>();
    for (const port of masters) calls.set(port, await kelpCalls(port));
    const total = [...calls.values()].reduce((sum, n) => sum + n, 0);
    const even = total / masters.length;
    const shares = [...calls.values()].map((n) => n / even);
    const perPort = masters.map((port) => `${port}: ${perMaster.get(port) ?? 0} queues, ${calls.get(port)} commands (${((calls.get(port) ?? 0) / even).toFixed(2)} of an even share)`);
    console.log(`[cluster] sharded spread, ${total} commands: ${perPort.join('; ')}`);
    for (const share of shares) expect(Math.abs(share - 1)).toBeLessThanOrEqual(0.25);

    // Zero CROSSSLOT anywhere (replicas included).
    for (const port of topology.ports) expect((await infoSection(port, 'errorstats')).get('errorstat_CROSSSLOT')).toBeUndefined();
  }, 60_000);

  it('follows a queue whose slot a resharding moved: MOVED points the pool at the new master, and the queue is consumed there', async () => {
    // A queue in the first slots of its master: redis-cli moves a master's lowest slots first.
    let queue = '';
    for (let i = 0; queue === ''; i++) if (keySlot(`{moved.${i}}`) < 40) queue = `moved.${i}`;
    const slot = keys.queueSlot(queue);
    const before = await pool.forSlot(slot);
    await before.lpush(keys.queueKey(queue), envelope(queue, 1, 0));
    const target = (await topology.ownerOf(16000)).master;
    await topology.reshard(slot, target);

    // The pool still points at the old master: the pop meets MOVED, did not run, and is followed.
    const error = await popQueue(queue).then(() => undefined, (caught: unknown) => caught);
    expect(String(error)).toMatch(/^ReplyError: MOVED /);
    expect(pool.followRedirect(error)).toBe(true);
    expect(pool.masterOf(slot)?.port).toBe(target);
    const entries = await popQueue(queue);
    expect(entries.map((entry) => (entry.kind === 'message' ? entry.deliveryTag : entry.kind))).toEqual([`${queue}#1`]);
    const node = topology.nodeClient(target);
    try {
      expect(await node.hlen(keys.unackedKeys(queue).unacked)).toBe(1);
    } finally {
      node.disconnect();
    }
    // Every master is reachable for the sweeps that visit them all.
    const everyMaster = await pool.everyMaster();
    expect(new Set(everyMaster.map((client) => client.options.port))).toEqual(new Set(await topology.masters()));
  }, 90_000);

  it('restores the unacked records of every queue on every master back to their own queue, once', async () => {
    const rk = shardedKeys('rs:');
    const queues = Array.from({ length: 60 }, (_, i) => `restore.${i}`);
    for (const [client, group] of await pool.group(queues, (queue) => rk.queueSlot(queue))) {
      const pipeline = client.pipeline();
      for (const queue of group) for (let n = 0; n < 3; n++) pipeline.lpush(rk.queueKey(queue), envelope(queue, n, 0));
      await pipeline.exec();
    }
    // Consumed and never acked: a consumer that died.
    let popped = 0;
    for (const queue of queues) popped += (await popQueue(queue, rk)).length;
    expect(popped).toBe(queues.length * 3);

    const options = { target: 'bare', lock: { expireMs: 5000, waitMs: 0 }, wallClock: () => Date.now() / 1000 } as const;
    const result = await restoreEveryShard(pool, rk, { ...options, ceiling: Date.now() / 1000 + 1 });
    expect([result.masters, result.queues, result.lockBusy]).toEqual([3, queues.length, false]);
    expect(result.items.filter((item) => item.status === 'restored')).toHaveLength(queues.length * 3);
    for (const queue of queues) {
      const client = await pool.forSlot(rk.queueSlot(queue));
      const [waiting, recorded] = await Promise.all([client.llen(rk.queueKey(queue)), client.hlen(rk.unackedKeys(queue).unacked)]);
      expect([queue, waiting, recorded]).toEqual([queue, 3, 0]);
    }
    const again = await restoreEveryShard(pool, rk, { ...options, ceiling: Date.now() / 1000 + 1 });
    expect(again.items).toEqual([]);

    // What `kelp inspect` reads: every queue, on the master that serves it.
    const rows = await inspectEveryShard(pool, rk);
    expect(rows.map((row) => row.queue)).toEqual([...queues].sort());
    for (const row of rows) {
      const owner = (await topology.ownerOf(rk.queueSlot(row.queue))).master;
      expect([row.queue, row.master, row.waiting, row.steps.get(0), row.deadLetters, row.unacked]).toEqual([row.queue, `127.0.0.1:${owner}`, 3, 3, 0, 0]);
    }
    expect(new Set(rows.map((row) => row.master)).size).toBe(3);
  }, 60_000);

  it('routes every publish by the bindings as they are at send time, a binding made by another process included, each queue on its master', async () => {
    const rk = shardedKeys('rt:');
    const publishing = new ShardedPublishing(pool, rk, 'rediscluster://127.0.0.1');
    const other = newPool();
    pools.push(other);
    // Three queues on three different masters.
    const queues: string[] = [];
    const used = new Set<string>();
    for (let i = 0; queues.length < 3; i++) {
      const master = (await pool.forSlot(rk.queueSlot(`routed.${i}`))).options.port;
      if (!used.has(String(master))) {
        used.add(String(master));
        queues.push(`routed.${i}`);
      }
    }
    const bind = async (by: ClusterNodePool, queue: string) => {
      const key = rk.bindingKey('orders');
      await (await by.forKey(key)).sadd(key, rk.bindingMember({ routingKey: 'new', pattern: '', queue }));
    };
    await bind(pool, queues[0] as string);
    expect(await publishing.putDirect('orders', 'new', envelope('orders', 1, 0), 0)).toEqual([queues[0]]);
    // Another process binds two more queues; the next publish, sent after, reaches all three.
    await bind(other, queues[1] as string);
    await bind(other, queues[2] as string);
    expect((await publishing.putDirect('orders', 'new', envelope('orders', 2, 5), 5)).sort()).toEqual([...queues].sort());
    const lengths = await Promise.all(
      queues.map(async (queue) => {
        const client = await pool.forSlot(rk.queueSlot(queue));
        return [await client.llen(rk.queueKey(queue)), await client.llen(rk.queueKey(queue, 3))];
      }),
    );
    expect(lengths).toEqual([[1, 1], [0, 1], [0, 1]]);
    // A topic-style route through putRouted reads the table the same way.
    expect(await publishing.putRouted('orders', envelope('orders', 3, 0), 0, (table) => table.filter((row) => row.queue === queues[2]).map((row) => row.queue))).toEqual([queues[2]]);
  }, 60_000);

  it('publishes fanout with SPUBLISH on the master of the exchange channel, where an SSUBSCRIBE gets it', async () => {
    const rk = shardedKeys('fo:');
    const publishing = new ShardedPublishing(pool, rk, 'rediscluster://127.0.0.1');
    const channel = rk.fanoutChannel('news', '');
    const owner = (await topology.ownerOf(keySlot(channel))).master;
    const subscriber = topology.nodeClient(owner);
    try {
      const received: string[] = [];
      subscriber.on('smessage', (_channel: string, message: string) => received.push(message));
      await subscriber.ssubscribe(channel);
      expect(await publishing.putFanout('news', 'hello', '')).toBe(1);
      for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(received).toEqual(['hello']);
    } finally {
      subscriber.disconnect();
    }
  }, 30_000);

  it('keeps a fanout subscription across a resharding of its channel\'s slot: subscribed again on the new master', async () => {
    const rk = shardedKeys('fm:');
    // An exchange whose channel is in the first slots of the second master's range (untouched so far).
    let exchange = '';
    for (let i = 0; exchange === ''; i++) {
      const slot = keySlot(rk.fanoutChannel(`bulletin.${i}`, ''));
      if (slot >= 5461 && slot < 5520) exchange = `bulletin.${i}`;
    }
    const channel = rk.fanoutChannel(exchange, '');
    const received: string[] = [];
    const errors: unknown[] = [];
    const subscriptions = new ShardedFanoutSubscriptions({
      pool,
      connect: (node) => new Redis({ host: node.host, port: node.port, password: CLUSTER_PASSWORD, maxRetriesPerRequest: 0 }),
      onMessage: (_channel, message) => received.push(message),
      onError: (error) => errors.push(error),
    });
    const publishing = new ShardedPublishing(pool, rk, 'rediscluster://127.0.0.1');
    /** One publish; a MOVED (the publish side's map is behind) is followed and sent again. */
    const publish = async (text: string) => {
      try {
        return await publishing.putFanout(exchange, text, '');
      } catch (error) {
        if (!pool.followRedirect(error)) throw error;
        return publishing.putFanout(exchange, text, '');
      }
    };
    // Up to 20 s: on a loaded machine the node's sunsubscribe, the map reload and the new
    // subscription have taken over 10 s between them.
    const waitFor = async (check: () => boolean) => {
      for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      return check();
    };
    try {
      await subscriptions.subscribe(channel);
      const before = (await topology.ownerOf(keySlot(channel))).master;
      expect(subscriptions.placements().get(channel)).toBe(before);
      expect(await publish('before')).toBe(1);
      expect(await waitFor(() => received.includes('before'))).toBe(true);

      const target = (await topology.ownerOf(16000)).master;
      await topology.reshard(keySlot(channel), target);
      expect(await waitFor(() => subscriptions.placements().get(channel) === target)).toBe(true);
      expect(await publish('after')).toBe(1);
      expect(await waitFor(() => received.includes('after'))).toBe(true);
      expect([received, errors]).toEqual([['before', 'after'], []]);
    } finally {
      subscriptions.close();
    }
  }, 90_000);
});

