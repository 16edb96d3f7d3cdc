/**
 * Delayed delivery (`countdown`) in the sharded cluster layout on a real six-node cluster: one
 * delayed publish through a direct exchange bound to two queues on two different masters is
 * stored in each queue's own delayed set and index, in the queue's slot (CLUSTER KEYSLOT), moved
 * by the mover of another connection (which finds the queues by SCAN), and consumed from both
 * queues after its delay and not before; nothing is left in the delayed keys. Then `kelp
 * inspect`'s counts and `kelp restore`'s move of due messages in this layout; a length limit
 * applied at the move with the queue's own drop counter; and a resharding that moves the queue's
 * slot while its messages wait.
 */
import { describe, expect, it } from 'vitest';
import { Connection, Consumer, Exchange, OperationalError, Producer, Queue, type Message } from 'kelp';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { drainUntil } from '../conformance/context.js';
import { shardedKeys } from './support/sharded-keys.js';
import { useShardedCluster } from './support/sharded-cluster.js';

// Each test has a prefix of its own, so what one leaves behind is not counted by the next (a
// restore moves the due messages of every queue with the transport's prefix).
const cluster = useShardedCluster('delayed:');
let keys = shardedKeys('delayed:');
/** A connection with `prefix`, which the helpers below then read the keys of. */
function openWithPrefix(prefix: string): Connection {
  keys = shardedKeys(prefix);
  return cluster.open({ globalKeyprefix: prefix });
}

/** Two queue names `<base>.<n>` whose slots are served by two different masters. */
async function onTwoMasters(base: string): Promise<[string, string]> {
  const first = `${base}.0`;
  const firstMaster = (await cluster.topology.ownerOf(keys.queueSlot(first))).master;
  for (let n = 1; ; n++) {
    const name = `${base}.${n}`;
    if ((await cluster.topology.ownerOf(keys.queueSlot(name))).master !== firstMaster) return [first, name];
  }
}

/** Runs `read` on the master of `queue`'s slot. */
async function onMasterOf<T>(queue: string, read: (client: ReturnType<typeof cluster.topology.nodeClient>) => Promise<T>): Promise<T> {
  const client = cluster.topology.nodeClient((await cluster.topology.ownerOf(keys.queueSlot(queue))).master);
  try {
    return await read(client);
  } finally {
    client.disconnect();
  }
}

describe('delayed delivery in the sharded layout', () => {
  it('delivers a delayed publish routed to queues on two masters to both, after its delay and not before', async () => {
    const producerConn = openWithPrefix('delayed.two:');
    const names = await onTwoMasters('dq');
    const masters = await Promise.all(names.map(async (name) => (await cluster.topology.ownerOf(keys.queueSlot(name))).master));
    expect(new Set(masters).size).toBe(2);

    const channel = await producerConn.channel();
    const exchange = new Exchange('dx', { type: 'direct' });
    await exchange.bind(channel).declare();
    const queues = names.map((name) => new Queue(name, { exchange, routingKey: 'later' }));
    for (const queue of queues) await queue.bind(channel).declare();

    const countdown = 1.5;
    const ids = ['d0', 'd1', 'd2', 'd3', 'd4'];
    const sentAt = Date.now();
    const producer = new Producer(channel);
    for (const id of ids) {
      const result = await producer.publish({ id }, { exchange, routingKey: 'later', countdown });
      expect([...result.queues].sort()).toEqual([...names].sort());
    }

    // Stored in each queue's own delayed set and index, in the queue's slot, on its master; no list yet.
    for (const name of names) {
      await onMasterOf(name, async (client) => {
        const slot = keys.queueSlot(name);
        for (const key of [keys.delayedKey(name), keys.delayedIndexOf(name)]) {
          expect(Number(await client.call('CLUSTER', 'KEYSLOT', key)), key).toBe(slot);
          expect(keySlot(key)).toBe(slot);
        }
        expect(await client.zcard(keys.delayedKey(name))).toBe(ids.length);
        expect(await client.zrange(keys.delayedIndexOf(name), 0, -1)).toEqual([keys.shardName(name)]);
        for (const key of keys.queueKeys(name)) expect(await client.llen(key), key).toBe(0);
      });
    }

    // A consumer on another connection (its mover knows of no delayed store: it scans the masters).
    const consumerConn = cluster.open({ globalKeyprefix: 'delayed.two:' });
    const received: { queue: string; id: string; at: number }[] = [];
    const consumer = new Consumer(await consumerConn.channel(), queues, {
      prefetchCount: 20,
      onMessage: (message: Message) => {
        received.push({ queue: message.deliveryInfo.queue ?? '', id: (message.payload as { id: string }).id, at: Date.now() });
        void message.ack();
      },
    });
    await consumer.consume();
    // Not before: the loop runs until 200 ms before the due time, and nothing arrives.
    const quiet = (sentAt + countdown * 1000 - 200 - Date.now()) / 1000;
    expect(quiet).toBeGreaterThan(0.5);
    await drainUntil(consumerConn, () => false, quiet).catch(() => undefined);
    expect(Date.now()).toBeLessThan(sentAt + countdown * 1000);
    expect(received).toEqual([]);
    await drainUntil(consumerConn, () => received.length >= ids.length * names.length, 10);
    // Nothing more (no duplicate) arrives.
    await drainUntil(consumerConn, () => false, 0.5).catch(() => undefined);
    await consumer.cancel();

    expect(received.every((entry) => entry.at >= sentAt + countdown * 1000)).toBe(true);
    for (const name of names) {
      expect(received.filter((entry) => entry.queue === name).map((entry) => entry.id).sort(), name).toEqual(ids);
    }

    // Nothing left in the delayed keys nor the lists.
    for (const name of names) {
      await onMasterOf(name, async (client) => {
        expect(await client.exists(keys.delayedKey(name), keys.delayedIndexOf(name))).toBe(0);
        for (const key of keys.queueKeys(name)) expect(await client.llen(key), key).toBe(0);
      });
    }
  }, 30_000);

  it('inspect counts delayed messages per queue; restore moves the due ones into their queues', async () => {
    const conn = openWithPrefix('delayed.admin:');
    const names = await onTwoMasters('iq');
    const channel = await conn.channel();
    for (const name of names) await new Queue(name).bind(channel).declare();
    const producer = new Producer(channel);
    const sentAt = Date.now();
    await producer.publish({ id: 'soon' }, { exchange: '', routingKey: names[0], countdown: 0.3 });
    await producer.publish({ id: 'later' }, { exchange: '', routingKey: names[1], countdown: 600 });
    await producer.publish({ id: 'later2' }, { exchange: '', routingKey: names[1], countdown: 900 });

    const admin = conn.transport.admin;
    if (!admin) throw new Error('the sharded transport has no admin');
    const rows = (await admin.inspect()).queues.filter((row) => names.includes(row.name));
    expect(rows.map((row) => [row.name, row.length, row.delayed])).toEqual([
      [names[0], 0, 1],
      [names[1], 0, 2],
    ]);
    const laterDue = rows[1]?.nextDueAt ?? 0;
    expect(laterDue * 1000).toBeGreaterThanOrEqual(sentAt + 600_000);
    expect(laterDue * 1000).toBeLessThan(Date.now() + 600_000 + 1);

    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await admin.restore({ olderThan: 0, dryRun: true })).delayedMoved).toBe(1);
    expect(await onMasterOf(names[0], (client) => client.zcard(keys.delayedKey(names[0])))).toBe(1);
    expect((await admin.restore({ olderThan: 0 })).delayedMoved).toBe(1);

    const after = (await admin.inspect()).queues.filter((row) => names.includes(row.name));
    expect(after.map((row) => [row.name, row.length, row.delayed])).toEqual([
      [names[0], 1, undefined],
      [names[1], 0, 2],
    ]);
    const got = await new Queue(names[0]).bind(channel).get({ noAck: true });
    expect((got?.payload as { id: string } | undefined)?.id).toBe('soon');
    await onMasterOf(names[0], async (client) => expect(await client.exists(keys.delayedKey(names[0]), keys.delayedIndexOf(names[0]))).toBe(0));
  }, 30_000);

  it("applies a length limit at the move with the queue's own drop counter and dead-letter list, in its slot", async () => {
    const conn = openWithPrefix('delayed.limit:');
    const [counted, deadLettered] = await onTwoMasters('lq');
    const channel = await conn.channel();
    for (const [name, dead] of [[counted, false], [deadLettered, true]] as const) {
      const queueArguments = { 'x-max-length': 1, 'x-overflow': 'reject-publish', ...(dead ? { 'x-dead-letter': true } : {}) };
      await new Queue(name, { queueArguments }).bind(channel).declare();
    }
    const producer = new Producer(channel);
    for (const name of [counted, deadLettered]) {
      for (const id of ['first', 'second']) await producer.publish({ id }, { exchange: '', routingKey: name, countdown: 0.1 });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const admin = conn.transport.admin;
    if (!admin) throw new Error('the sharded transport has no admin');
    expect((await admin.restore({ olderThan: 0 })).delayedMoved).toBe(4);

    for (const name of [counted, deadLettered]) {
      await onMasterOf(name, async (client) => {
        expect(await client.llen(keys.queueKey(name)), name).toBe(1);
        expect(await client.exists(keys.delayedKey(name), keys.delayedIndexOf(name))).toBe(0);
        const drops = keys.droppedKeyOf(name, 'maxlen');
        expect(Number(await client.call('CLUSTER', 'KEYSLOT', drops))).toBe(keys.queueSlot(name));
        expect(await client.hget(drops, keys.deadLetterKey(name))).toBe(name === counted ? '1' : null);
        expect(await client.llen(keys.deadLetterKey(name))).toBe(name === counted ? 0 : 1);
      });
    }
    // No global drop counter was written: every drop is counted in the queue's slot.
    const global = cluster.topology.nodeClient((await cluster.topology.ownerOf(keySlot(keys.droppedKey('maxlen')))).master);
    expect(await global.exists(keys.droppedKey('maxlen')).finally(() => global.disconnect())).toBe(0);
    const letters = await admin.deadLetters(deadLettered);
    expect(letters.map((entry) => [entry.queue, entry.reason])).toEqual([[deadLettered, 'maxlen']]);
    expect(JSON.parse(letters[0]?.raw ?? '{}')).toMatchObject({ body: expect.any(String) });
  }, 30_000);
});

// Last in the file: it moves slots between masters.
describe('delayed delivery across a resharding in the sharded layout', () => {
  it("moves delayed messages whose queue's slot moved to another master while they waited, and stores new ones there", async () => {
    const publisherConn = openWithPrefix('delayed.reshard:');
    // A queue in the first slots of its master: redis-cli moves a master's lowest slots first.
    let name = '';
    for (let i = 0; name === ''; i++) if (keys.queueSlot(`moving.${i}`) < 40) name = `moving.${i}`;
    const slot = keys.queueSlot(name);
    const channel = await publisherConn.channel();
    await new Queue(name).bind(channel).declare();
    const producer = new Producer(channel);

    // A consumer consuming before the resharding: its mover has found the queue on the old master.
    const consumerConn = cluster.open({ globalKeyprefix: 'delayed.reshard:' });
    const received: { id: string; at: number }[] = [];
    const consumer = new Consumer(await consumerConn.channel(), [new Queue(name)], {
      prefetchCount: 50,
      onMessage: (message: Message) => {
        received.push({ id: (message.payload as { id: string }).id, at: Date.now() });
        void message.ack();
      },
    });
    await consumer.consume();

    const before = Array.from({ length: 20 }, (_, n) => `before#${n}`);
    const dueBefore = Date.now() + 15_000;
    for (const id of before) await producer.publish({ id }, { exchange: '', routingKey: name, eta: new Date(dueBefore) });
    await drainUntil(consumerConn, () => false, 1.2).catch(() => undefined);

    const from = (await cluster.topology.ownerOf(slot)).master;
    const target = (await cluster.topology.masters()).find((port) => port !== from) as number;
    await cluster.topology.reshard(slot, target);
    expect((await cluster.topology.ownerOf(slot)).master).toBe(target);
    expect(Date.now()).toBeLessThan(dueBefore);
    // Still waiting, now on the new master, in the queue's slot.
    const onTarget = cluster.topology.nodeClient(target);
    try {
      expect(await onTarget.zcard(keys.delayedKey(name))).toBe(before.length);
      expect(await onTarget.zrange(keys.delayedIndexOf(name), 0, -1)).toEqual([keys.shardName(name)]);
    } finally {
      onTarget.disconnect();
    }

    // The publisher's map still names the old master: its delay call meets MOVED, which points the
    // slot at the new master (the call did not run). As for any publish, a map reloaded from a node
    // that has not heard of the move yet may send one more to the old master: the application
    // publishes again (no retry policy here), at most once.
    const after = Array.from({ length: 10 }, (_, n) => `after#${n}`);
    let refused = 0;
    for (const id of after) {
      for (let attempt = 0; ; attempt++) {
        try {
          await producer.publish({ id }, { exchange: '', routingKey: name, countdown: 0.5 });
          break;
        } catch (error) {
          refused++;
          expect(error).toBeInstanceOf(OperationalError);
          if (attempt > 0) throw error;
        }
      }
    }
    expect(refused, 'delayed publishes refused after the resharding').toBeLessThanOrEqual(1);

    await drainUntil(consumerConn, () => received.length >= before.length + after.length, 30);
    await drainUntil(consumerConn, () => false, 0.5).catch(() => undefined);
    await consumer.cancel();
    expect(received.map((entry) => entry.id).sort()).toEqual([...after, ...before].sort());
    expect(received.filter((entry) => entry.id.startsWith('before#')).every((entry) => entry.at >= dueBefore)).toBe(true);

    for (const port of [from, target]) {
      const client = cluster.topology.nodeClient(port);
      try {
        expect(await client.exists(keys.delayedKey(name), keys.delayedIndexOf(name)).catch(() => 0), `delayed keys on ${port}`).toBe(0);
      } finally {
        client.disconnect();
      }
    }
  }, 120_000);
});
