/**
 * The dashboard's repairs (`transport.admin`'s page / delete / purge / unacked / restore one /
 * dead-letter operations) in the sharded layout, on queues of two masters: each acts on the
 * queue's own keys on its master, checked against the keys themselves. Moving messages between
 * two queues is refused, naming the layout.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Producer, Queue, type TransportAdminRepair } from 'kelp';
import { repairOf } from '../../packages/dashboard/src/repair.js';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { adminOf, caught } from '../conformance/context.js';
import { shardedKeys } from './support/sharded-keys.js';
import { useShardedCluster } from './support/sharded-cluster.js';

const PREFIX = 'repair:';
const keys = shardedKeys(PREFIX);
const cluster = useShardedCluster(PREFIX);

const masterOf = async (queue: string): Promise<number> => (await cluster.topology.ownerOf(keySlot(keys.queueKey(queue)))).master;

/** Runs `use` with a plain client of `queue`'s master. */
async function onMaster<T>(queue: string, use: (client: ReturnType<typeof cluster.topology.nodeClient>) => Promise<T>): Promise<T> {
  const client = cluster.topology.nodeClient(await masterOf(queue));
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

describe("the dashboard's repairs in the sharded layout", () => {
  it('pages, deletes, restores one, requeues and deletes dead letters and purges, each on the queue\'s master', async () => {
    const qa = 'rq.a';
    let qb = '';
    for (let i = 0; qb === ''; i++) if ((await masterOf(`rq.b${i}`)) !== (await masterOf(qa))) qb = `rq.b${i}`;
    const conn = cluster.open();
    const channel = await conn.channel();
    const [a, b] = [new Queue(qa).bind(channel), new Queue(qb).bind(channel)];
    await a.declare();
    await b.declare();
    const producer = new Producer(channel);
    for (const n of [1, 2, 3]) await producer.publish({ n }, { exchange: '', routingKey: qa });
    await producer.publish({ n: 'b' }, { exchange: '', routingKey: qb });
    const admin: TransportAdminRepair = repairOf(adminOf(conn), 'redis');

    // A page of qa, oldest first, and one message of it deleted by id.
    const page = await admin.messages(qa);
    expect([page.total, page.items.map((item) => (JSON.parse(Buffer.from(JSON.parse(item.raw).body, 'base64').toString()) as { n: number }).n)]).toEqual([3, [1, 2, 3]]);
    expect(await admin.deleteMessage(qa, page.items[1]?.id as string)).toEqual({ deleted: true });
    expect(await onMaster(qa, (client) => client.llen(keys.queueKey(qa)))).toBe(2);

    // qb's message taken and not acked: listed as unacked of qb, then restored to qb.
    const taken = await b.get();
    expect(taken).toBeDefined();
    const unacked = await admin.unacked();
    expect(unacked.items.map((item) => [item.tag, item.queues])).toEqual([[taken?.deliveryTag, [qb]]]);
    expect((await admin.unacked({ queue: qa })).items).toEqual([]);
    // An unknown option name or a bad count is refused, as on redis://.
    expect(await caught(() => admin.unacked({ count: 5 } as never))).toBeInstanceOf(ConfigurationError);
    expect(await caught(() => admin.unacked({ limit: 1001 }))).toBeInstanceOf(ConfigurationError);
    expect(await admin.restoreMessage(taken?.deliveryTag as string)).toEqual({ restored: true, queues: [qb], deadLettered: false });
    expect(await onMaster(qb, async (client) => [await client.llen(keys.queueKey(qb)), await client.hlen(keys.unackedKeys(qb).unacked)])).toEqual([1, 0]);

    // Two of qa's messages made dead letters: one requeued, one deleted, by id.
    await onMaster(qa, async (client) => {
      for (let n = 0; n < 2; n++) {
        const envelope = await client.rpop(keys.queueKey(qa));
        await client.lpush(keys.deadLetterKey(qa), JSON.stringify({ reason: 'rejected', queue: qa, time: 1000 + n, payload: envelope }));
      }
    });
    const dead = await adminOf(conn).deadLetters(qa);
    expect(dead).toHaveLength(2);
    expect(await admin.requeueDeadLetter(qa, dead[0]?.id as string)).toEqual({ requeued: true });
    expect(await admin.deleteDeadLetter(qa, dead[1]?.id as string)).toEqual({ deleted: true });
    expect(await onMaster(qa, async (client) => [await client.llen(keys.queueKey(qa)), await client.llen(keys.deadLetterKey(qa))])).toEqual([1, 0]);

    expect(await admin.purge(qa)).toEqual({ purged: 1 });
    expect(await onMaster(qa, (client) => client.exists(keys.queueKey(qa)))).toBe(0);

    const refused = await caught(() => admin.moveMessages(qb, qa));
    expect(refused).toBeInstanceOf(ConfigurationError);
    expect((refused as Error).message).toMatch(/sharded cluster layout/);
    expect(await onMaster(qb, (client) => client.llen(keys.queueKey(qb)))).toBe(1);
  }, 60_000);
});
