/**
 * Queue arguments the scripts apply on the server, in the sharded cluster layout on a real
 * six-node cluster (kelp issue 19): `x-max-length` / `x-max-length-bytes` drop heads into a
 * drop-count hash of the queue's own slot (`_kelp.dropped.maxlen.{<q>}`, never the flat layout's
 * global hash), dead-letter them on a queue with `x-dead-letter`, or refuse with reject-publish,
 * also when one publish reaches queues on several masters or several slots of one master; and
 * `x-expires` sets and resets each queue's expiry on its own master, so an unused queue goes
 * while the consumed ones, touched one call per slot, stay.
 */
import { describe, expect, it } from 'vitest';
import { Consumer, Exchange, Queue, type Connection, type Message } from 'kelp';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { adminOf, declareQueue, drainIdle, drainQueue, publish, sleep } from '../conformance/context.js';
import { shardedKeys } from './support/sharded-keys.js';
import { useShardedCluster } from './support/sharded-cluster.js';

const PREFIX = 'limits:';
const keys = shardedKeys(PREFIX);
const cluster = useShardedCluster(PREFIX);

const EXPIRES_MS = 1500;
/** Past EXPIRES_MS with room for a loaded machine's timers. */
const IDLE_MS = 3000;

const masterOf = async (queue: string): Promise<number> => (await cluster.topology.ownerOf(keySlot(keys.queueKey(queue)))).master;

/** A queue named `<stem>.<n>` whose master is (same) or is not (!same) `other`'s, in another slot. */
async function queueBeside(other: string, stem: string, same: boolean): Promise<string> {
  const master = await masterOf(other);
  for (let n = 0; ; n++) {
    const queue = `${stem}.${n}`;
    if (keySlot(keys.queueKey(queue)) !== keySlot(keys.queueKey(other)) && ((await masterOf(queue)) === master) === same) return queue;
  }
}

/** Runs `read` on a plain client of `queue`'s master. */
async function onMasterOf<T>(queue: string, read: (node: ReturnType<typeof cluster.topology.nodeClient>) => Promise<T>): Promise<T> {
  const node = cluster.topology.nodeClient(await masterOf(queue));
  try {
    return await read(node);
  } finally {
    node.disconnect();
  }
}

/** The maxlen drop count of `queue` as stored: its own hash, on its master. */
const maxlenCount = (queue: string): Promise<string | null> =>
  onMasterOf(queue, (node) => node.hget(keys.droppedKeyOf(queue, 'maxlen'), keys.deadLetterKey(queue)));

async function droppedOf(conn: Connection, queue: string): Promise<Record<string, number>> {
  return (await adminOf(conn).inspect()).queues.find((row) => row.name === queue)?.dropped ?? {};
}

/**
 * Publishes `{ id }` to each queue through the default exchange, all in one tick (a master's
 * pushes of one tick go in one script call); resolves with each publish's status, 'refused' for
 * a node's "non local key" refusal.
 */
async function burst(conn: Connection, id: number, queues: readonly string[]): Promise<string[]> {
  const outcomes = await Promise.allSettled(queues.map((queue) => publish(conn, { id }, { exchange: '', routingKey: queue })));
  return outcomes.map((outcome) =>
    outcome.status === 'fulfilled' ? outcome.value.status : /non local key/.test(String(outcome.reason)) ? 'refused' : String(outcome.reason),
  );
}

/**
 * Runs `run` on a plain client of `queue`'s master while the queue's slot is MIGRATING from it to
 * another master (STABLE again after): the master still serves the slot's keys that exist and
 * refuses the others to a script.
 */
async function whileMigrating<T>(queue: string, run: (node: ReturnType<typeof cluster.topology.nodeClient>) => Promise<T>): Promise<T> {
  const slot = String(keySlot(keys.queueKey(queue)));
  const owner = await masterOf(queue);
  const target = (await cluster.topology.masters()).find((port) => port !== owner) as number;
  const [node, other] = [cluster.topology.nodeClient(owner), cluster.topology.nodeClient(target)];
  try {
    await node.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', String(await other.call('CLUSTER', 'MYID')));
    try {
      return await run(node);
    } finally {
      await node.call('CLUSTER', 'SETSLOT', slot, 'STABLE');
    }
  } finally {
    node.disconnect();
    other.disconnect();
  }
}

/** Publishes ids one at a time through `exchange` with `routingKey`; resolves with each result. */
async function publishIds(conn: Connection, ids: readonly number[], exchange: Exchange | string, routingKey: string) {
  const results = [];
  for (const id of ids) results.push(await publish(conn, { id }, { exchange, routingKey, messageId: `m-${id}` }));
  return results;
}

describe('length limits in the sharded layout', () => {
  it("counts drop-head drops in a hash in the queue's slot (CLUSTER KEYSLOT), and in no global hash", async () => {
    const conn = cluster.open();
    const name = 'drops.counted';
    const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length': 2 } });
    const results = await publishIds(conn, [1, 2, 3, 4, 5], '', name);
    expect(results.map((result) => result.status)).toEqual(['routed', 'routed', 'routed', 'routed', 'routed']);

    const counter = keys.droppedKeyOf(name, 'maxlen');
    expect(counter).toBe(`${PREFIX}_kelp.dropped.maxlen.{${name}}`);
    expect(await cluster.topology.slotOf(counter)).toBe(await cluster.topology.slotOf(keys.queueKey(name)));
    expect(await maxlenCount(name)).toBe('3');
    expect(await droppedOf(conn, name)).toEqual({ maxlen: 3 });
    // The flat layout's global hash (in a slot of its own) is not written.
    const global = cluster.topology.nodeClient((await cluster.topology.ownerOf(keySlot(keys.droppedKey('maxlen')))).master);
    try {
      expect(await global.exists(keys.droppedKey('maxlen'))).toBe(0);
    } finally {
      global.disconnect();
    }
    expect(await drainQueue(queue)).toEqual([{ id: 4 }, { id: 5 }]);
  });

  it('applies the limits of two queues on different masters to each publish through a direct and a topic exchange', async () => {
    const conn = cluster.open();
    const counted = 'span.counted';
    const dead = await queueBeside(counted, 'span.dead', false);
    expect(await masterOf(dead)).not.toBe(await masterOf(counted));
    const direct = new Exchange('span.direct', { type: 'direct' });
    const topic = new Exchange('span.topic', { type: 'topic' });
    const countedQueue = await declareQueue(conn, counted, { exchange: direct, routingKey: 'k', queueArguments: { 'x-max-length': 1 } });
    const deadQueue = await declareQueue(conn, dead, { exchange: direct, routingKey: 'k', queueArguments: { 'x-max-length': 1, 'x-dead-letter': true } });
    await new Queue(counted, { exchange: topic, routingKey: 'a.#' }).bind(await conn.defaultChannel()).declare();
    await new Queue(dead, { exchange: topic, routingKey: 'a.#' }).bind(await conn.defaultChannel()).declare();

    const results = [
      ...(await publishIds(conn, [1], direct, 'k')),
      ...(await publishIds(conn, [2], topic, 'a.b')),
      ...(await publishIds(conn, [3], direct, 'k')),
      ...(await publishIds(conn, [4], topic, 'a.c')),
    ];
    expect(results.map((result) => [result.status, [...result.queues].sort()])).toEqual(Array(4).fill(['routed', [counted, dead].sort()]));

    expect(await maxlenCount(counted)).toBe('3');
    expect(await maxlenCount(dead)).toBeNull();
    const letters = await adminOf(conn).deadLetters(dead);
    expect(letters.map((letter) => [letter.reason, (JSON.parse(letter.raw) as { properties: { message_id: string } }).properties.message_id])).toEqual([
      ['maxlen', 'm-1'],
      ['maxlen', 'm-2'],
      ['maxlen', 'm-3'],
    ]);
    // The queue as users name it, not as its keys spell it ({<q>}).
    expect(letters.map((letter) => letter.queue)).toEqual([dead, dead, dead]);
    expect(await drainQueue(countedQueue)).toEqual([{ id: 4 }]);
    expect(await drainQueue(deadQueue)).toEqual([{ id: 4 }]);
  });

  it('refuses with reject-publish only at the full queue of a routed publish spanning masters', async () => {
    const conn = cluster.open();
    const full = 'reject.full';
    const open = await queueBeside(full, 'reject.open', false);
    const topic = new Exchange('reject.topic', { type: 'topic' });
    const fullQueue = await declareQueue(conn, full, { exchange: topic, routingKey: 'r.*', queueArguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    const openQueue = await declareQueue(conn, open, { exchange: topic, routingKey: 'r.*' });
    const [first, second] = await publishIds(conn, [1, 2], topic, 'r.x');
    expect(first?.status).toBe('routed');
    expect([second?.status, second?.queues, second?.rejected]).toEqual(['rejected', [open], [full]]);
    expect(await drainQueue(fullQueue)).toEqual([{ id: 1 }]);
    expect(await drainQueue(openQueue)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await maxlenCount(full)).toBeNull();
  });

  it('applies the limits of queues in two slots of one master pushed in one script call (a burst)', async () => {
    const conn = cluster.open();
    const first = 'burst.one';
    const second = await queueBeside(first, 'burst.two', true);
    const direct = new Exchange('burst.direct', { type: 'direct' });
    const queues = [
      await declareQueue(conn, first, { exchange: direct, routingKey: 'b', queueArguments: { 'x-max-length': 2 } }),
      await declareQueue(conn, second, { exchange: direct, routingKey: 'b', queueArguments: { 'x-max-length': 1 } }),
    ];
    // Published in one tick: the master's pushes of that tick go in one call.
    const results = await Promise.all([1, 2, 3, 4].map((id) => publish(conn, { id }, { exchange: direct, routingKey: 'b' })));
    expect(results.map((result) => result.status)).toEqual(['routed', 'routed', 'routed', 'routed']);
    expect(await drainQueue(queues[0] as Queue)).toEqual([{ id: 3 }, { id: 4 }]);
    expect(await drainQueue(queues[1] as Queue)).toEqual([{ id: 4 }]);
    expect([await maxlenCount(first), await maxlenCount(second)]).toEqual(['2', '3']);
  });

  it('fails only the publishes to a limited queue whose slot is migrating, not those of its call to another slot', async () => {
    const conn = cluster.open();
    const moving = 'migrating.limited';
    const staying = await queueBeside(moving, 'migrating.other', true);
    const movingQueue = await declareQueue(conn, moving, { queueArguments: { 'x-max-length': 1 } });
    const stayingQueue = await declareQueue(conn, staying, { queueArguments: { 'x-max-length': 1 } });
    // Its empty dead-letter list and its drop counter are refused; both pushes in one call (a tick).
    expect(await whileMigrating(moving, () => Promise.all([burst(conn, 1, [moving, staying]), burst(conn, 2, [moving, staying])]))).toEqual([
      ['refused', 'routed'],
      ['refused', 'routed'],
    ]);
    expect(await drainQueue(movingQueue)).toEqual([]);
    expect(await drainQueue(stayingQueue)).toEqual([{ id: 2 }]);
    expect([await maxlenCount(moving), await maxlenCount(staying)]).toEqual([null, '1']);
  });

  it('refuses the publishes to a queue whose argument hash its node refuses, instead of storing them without its limits', async () => {
    const conn = cluster.open();
    const moving = 'migrated.arguments';
    const staying = await queueBeside(moving, 'migrated.other', true);
    const movingQueue = await declareQueue(conn, moving, { queueArguments: { 'x-max-length': 5 } });
    const stayingQueue = await declareQueue(conn, staying);
    await publish(conn, { id: 1 }, { exchange: '', routingKey: moving });
    // As if the argument hash had migrated already and the list not yet: the owner still serves
    // the list (it exists) and refuses the missing hash to a script.
    const outcome = await whileMigrating(moving, async (node) => {
      await node.del(keys.queueArgumentsKey(moving));
      return burst(conn, 2, [moving, staying]);
    });
    expect(outcome).toEqual(['refused', 'routed']);
    expect(await drainQueue(movingQueue)).toEqual([{ id: 1 }]);
    expect(await drainQueue(stayingQueue)).toEqual([{ id: 2 }]);
  });
});

// Moves a slot between masters: after the other length-limit cases, which place queues by master.
describe('a batched publish that meets a moved slot in the sharded layout', () => {
  it('reloads the slot map, so the next burst reaches the queue on its new master', async () => {
    const conn = cluster.open();
    const moving = 'reloaded.moving';
    // On the same master in a later slot: the resharding moves the master's slots up to moving's.
    let staying = '';
    for (let n = 0; staying === ''; n++) {
      const name = `reloaded.staying.${n}`;
      if (keySlot(keys.queueKey(name)) > keySlot(keys.queueKey(moving)) && (await masterOf(name)) === (await masterOf(moving))) staying = name;
    }
    const movingQueue = await declareQueue(conn, moving);
    const stayingQueue = await declareQueue(conn, staying);
    // A burst's reply carries the moved queue's refusal nested in it (a whole-reply error would
    // reload the map on its own).
    expect(await burst(conn, 1, [moving, staying])).toEqual(['routed', 'routed']);
    const owner = await masterOf(moving);
    const target = (await cluster.topology.masters()).find((port) => port !== owner) as number;
    await cluster.topology.reshard(keySlot(keys.queueKey(moving)), target);
    expect([await masterOf(moving), await masterOf(staying)]).toEqual([target, owner]);
    // This connection still maps the slot to its old master.
    expect(await burst(conn, 2, [moving, staying])).toEqual(['refused', 'routed']);
    expect(await burst(conn, 3, [moving, staying])).toEqual(['routed', 'routed']);
    expect(await drainQueue(movingQueue)).toEqual([{ id: 1 }, { id: 3 }]);
    expect(await drainQueue(stayingQueue)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  }, 60_000);
});

describe('x-expires in the sharded layout', () => {
  it("gives the queue's keys its expiry on its master and deletes the unused queue with them", async () => {
    const conn = cluster.open();
    const name = 'expires.unused';
    await declareQueue(conn, name, { queueArguments: { 'x-expires': EXPIRES_MS } });
    await publishIds(conn, [1, 2], '', name);
    const [listTtl, argumentsTtl] = await onMasterOf(name, async (node) => [await node.pttl(keys.queueKey(name)), await node.pttl(keys.queueArgumentsKey(name))]);
    expect(listTtl).toBeGreaterThan(0);
    expect(listTtl).toBeLessThanOrEqual(EXPIRES_MS);
    expect(argumentsTtl).toBeGreaterThan(0);
    await sleep(IDLE_MS);
    expect(await onMasterOf(name, (node) => node.exists(keys.queueKey(name), keys.queueArgumentsKey(name)))).toBe(0);
    const queue = new Queue(name).bind(await conn.defaultChannel());
    expect(await queue.get({ noAck: true })).toBeUndefined();
  });

  it('keeps two consumed queues on different masters and lets the unconsumed one go', async () => {
    const conn = cluster.open();
    const first = 'expires.kept';
    const second = await queueBeside(first, 'expires.also', false);
    const unused = 'expires.gone';
    for (const name of [first, second, unused]) {
      await declareQueue(conn, name, { queueArguments: { 'x-expires': EXPIRES_MS } });
      await publishIds(conn, [1, 2], '', name);
    }
    const consuming = cluster.open();
    const held: Message[] = [];
    // prefetch 1 and no ack: each queue keeps a waiting message, only the touches keep the queues.
    const consumer = new Consumer(await consuming.channel(), [new Queue(first), new Queue(second)], { prefetchCount: 1, onMessage: (m) => void held.push(m) });
    await consumer.consume();
    await drainIdle(consuming, IDLE_MS / 1000);
    expect(held.length).toBe(1);
    const waiting = async (name: string) => onMasterOf(name, (node) => node.llen(keys.queueKey(name)));
    expect([await waiting(first) + await waiting(second), await waiting(unused)]).toEqual([3, 0]);
    expect(await onMasterOf(unused, (node) => node.exists(keys.queueArgumentsKey(unused)))).toBe(0);
  });
});
