/**
 * CLIENT TRACKING in the sharded layout (sharded-tracking.ts): a consumer whose `brpopTimeout`
 * is long is woken at once by a message another Connection publishes, on each of two masters;
 * idle, it sends (almost) no LLEN where the timer alone would poll every queue each tick; a
 * user that may not run CLIENT still consumes, on the timer; and after a resharding, and a
 * failover, of a consumed queue's master the tracking follows the slot to its new master.
 */
import { describe, expect, it } from 'vitest';
import { Connection, Consumer, OperationTimeoutError, Producer, Queue, type Message } from 'kelp';
import type { ShardedRedisTransport } from '../../packages/transport-redis/src/sharded-transport.js';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { sleep } from '../conformance/context.js';
import { useShardedCluster } from './support/sharded-cluster.js';

const PREFIX = 'tracking:';
const cluster = useShardedCluster(PREFIX);
const slotOf = (queue: string): number => keySlot(`${PREFIX}{${queue}}`);

/** `count` queue names `<stem>.<n>` on each of `masters` distinct masters: master port -> names. */
async function queuesOnMasters(stem: string, masters: number, count: number): Promise<Map<number, string[]>> {
  const found = new Map<number, string[]>();
  for (let n = 0; n < 500; n++) {
    const name = `${stem}.${n}`;
    const { master } = await cluster.topology.ownerOf(slotOf(name));
    const names = found.get(master) ?? [];
    if (names.length < count && (names.length > 0 || found.size < masters)) {
      names.push(name);
      found.set(master, names);
    }
    if (found.size === masters && [...found.values()].every((list) => list.length === count)) return found;
  }
  throw new Error(`no ${count} queue names on each of ${masters} masters`);
}

const trackingStates = (conn: Connection): Map<string, string> => (conn.transport as ShardedRedisTransport).trackingStates;

/** Runs `conn`'s loop until `done()` (its ticks and invalidations run meanwhile). */
async function drainWhile(conn: Connection, done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms`);
    try {
      await conn.drainEvents({ timeout: 0.05 });
    } catch (error) {
      if (!(error instanceof OperationTimeoutError)) throw error;
    }
  }
}

/** Runs `conn`'s loop for `ms` (nothing expected to arrive). */
async function idle(conn: Connection, ms: number): Promise<void> {
  const until = Date.now() + ms;
  await drainWhile(conn, () => Date.now() >= until, ms + 5000, 'an idle spell');
}

/** Waits until tracking is on for exactly these master ports (and nothing else) on `conn`. */
async function waitForTracking(conn: Connection, ports: readonly number[], timeoutMs = 15_000): Promise<void> {
  const wanted = ports.map((port) => `127.0.0.1:${port}`).sort();
  const matches = (): boolean => {
    const states = trackingStates(conn);
    return [...states.keys()].sort().join() === wanted.join() && [...states.values()].every((state) => state === 'on');
  };
  await drainWhile(conn, matches, timeoutMs, `tracking on masters ${wanted.join(', ')} (now ${JSON.stringify([...trackingStates(conn)])})`);
}

/** A consumer of `queues` on `conn` (one channel); returns the ids it got, in order, and acks each. */
async function consume(conn: Connection, queues: readonly string[]): Promise<string[]> {
  const got: string[] = [];
  const consumer = new Consumer(
    await conn.channel(),
    queues.map((name) => new Queue(name)),
    {
      prefetchCount: 10,
      onMessage: (message: Message) => {
        got.push((message.payload as { id: string }).id);
        void message.ack().catch(() => undefined);
      },
    },
  );
  await consumer.consume();
  return got;
}

async function declare(conn: Connection, queues: readonly string[]): Promise<void> {
  const channel = await conn.channel();
  for (const name of queues) await new Queue(name).bind(channel).declare();
}

/** LLEN calls so far on each of `ports` (INFO commandstats), summed. */
async function llenCalls(ports: readonly number[]): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const client = cluster.topology.nodeClient(port);
    try {
      const stats = await client.info('commandstats');
      total += Number(/cmdstat_llen:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    } finally {
      client.disconnect();
    }
  }
  return total;
}

describe('client tracking wakes sharded consumers', () => {
  it('delivers a message another Connection (or its own) publishes, on each of two masters, well under brpopTimeout', async () => {
    const byMaster = await queuesOnMasters('wake', 2, 1);
    const ports = [...byMaster.keys()];
    const queues = [...byMaster.values()].flat();
    const producerConn = cluster.open();
    await declare(producerConn, queues);
    const producer = new Producer(producerConn);
    const consumerConn = cluster.open({ brpopTimeout: 5 });
    const got = await consume(consumerConn, queues);
    await waitForTracking(consumerConn, ports);
    // The poll that arming triggers is over; from here only an invalidation (or the 5 s timer) polls.
    await idle(consumerConn, 300);

    const latencies: number[] = [];
    const expected: string[] = [];
    for (let round = 0; round < 2; round++) {
      for (const queue of queues) {
        const id = `${queue}#${round}`;
        expected.push(id);
        await producer.publish({ id }, { exchange: '', routingKey: queue });
        const sent = performance.now();
        await drainWhile(consumerConn, () => got.length === expected.length, 10_000, `delivery of ${id}`);
        latencies.push(performance.now() - sent);
        await idle(consumerConn, 100);
      }
    }
    // A publish of the consuming Connection itself is announced too (tracking without NOLOOP).
    const ownProducer = new Producer(consumerConn);
    for (const queue of queues) {
      const id = `${queue}#own`;
      expected.push(id);
      await ownProducer.publish({ id }, { exchange: '', routingKey: queue });
      const sent = performance.now();
      await drainWhile(consumerConn, () => got.length === expected.length, 10_000, `delivery of ${id}`);
      latencies.push(performance.now() - sent);
      await idle(consumerConn, 100);
    }
    expect(got).toEqual(expected);
    for (const [i, ms] of latencies.entries()) expect(ms, `${expected[i]} delivered after (ms)`).toBeLessThan(1000);
    console.info(`[cluster] sharded tracking: ${expected.length} deliveries on masters ${ports.join(', ')} with brpopTimeout 5 s, slowest ${Math.max(...latencies).toFixed(0)} ms`);
    await consumerConn.close();
    await producerConn.close();
  }, 60_000);

  it('sends (almost) no LLEN while idle, where the timer alone polls every queue each tick', async () => {
    const byMaster = await queuesOnMasters('idle', 2, 2);
    const ports = [...byMaster.keys()];
    const queues = [...byMaster.values()].flat();
    const setup = cluster.open();
    await declare(setup, queues);
    await setup.close();
    const masters = await cluster.topology.masters();

    /** LLEN calls on the masters over one idle second of a consumer of `queues` with a 50 ms timer. */
    const idleLlens = async (extra: Record<string, unknown>, tracked: boolean): Promise<number> => {
      const conn = cluster.open({ brpopTimeout: 0.05, ...extra });
      await consume(conn, queues);
      if (tracked) await waitForTracking(conn, ports);
      await idle(conn, 300);
      const before = await llenCalls(masters);
      await idle(conn, 1000);
      const calls = (await llenCalls(masters)) - before;
      await conn.close();
      return calls;
    };
    const withTracking = await idleLlens({}, true);
    const timerOnly = await idleLlens({ clientTracking: false }, false);
    console.info(`[cluster] sharded tracking: LLEN over an idle second, ${queues.length} queues, 50 ms timer: ${withTracking} tracked, ${timerOnly} timer only`);
    // The timer alone: ~20 ticks x 4 queues x 4 priority steps. Tracked: the timer rests.
    expect(timerOnly).toBeGreaterThan(100);
    expect(withTracking).toBeLessThan(20);
  }, 60_000);

  it('consumes on the timer when the user may not run CLIENT (tracking refused)', async () => {
    const [queue] = (await queuesOnMasters('refused', 1, 1)).values().next().value as string[];
    for (const port of cluster.topology.ports) {
      const client = cluster.topology.nodeClient(port);
      try {
        await client.call('ACL', 'SETUSER', 'notrack', 'on', '>notrack-secret', '~*', '&*', '+@all', '-client');
      } finally {
        client.disconnect();
      }
    }
    const producerConn = cluster.open();
    await declare(producerConn, [queue as string]);
    const url = cluster.topology.url().replace(/^rediscluster:\/\/:[^@]*@/, 'rediscluster://notrack:notrack-secret@');
    const consumerConn = new Connection(url, { transportOptions: { clusterLayout: 'sharded', globalKeyprefix: PREFIX, brpopTimeout: 0.2 } });
    try {
      const got = await consume(consumerConn, [queue as string]);
      await drainWhile(consumerConn, () => [...trackingStates(consumerConn).values()].includes('unsupported'), 10_000, 'tracking refused');
      await new Producer(producerConn).publish({ id: 'refused#1' }, { exchange: '', routingKey: queue as string });
      const sent = performance.now();
      await drainWhile(consumerConn, () => got.length === 1, 10_000, 'delivery on the timer');
      expect(got).toEqual(['refused#1']);
      // The 200 ms timer, not the 5 s check of a consumer that counts itself tracked.
      expect(performance.now() - sent, 'delivered after (ms)').toBeLessThan(1000);
      expect([...trackingStates(consumerConn).values()]).toEqual(['unsupported']);
    } finally {
      await consumerConn.close();
      await producerConn.close();
    }
  }, 60_000);

  it('follows a resharding of an idle consumed queue: its new master wakes the consumer too', async () => {
    // A queue in the first slots of its master: redis-cli moves a master's lowest slots first.
    let name = '';
    for (let i = 0; name === ''; i++) if (slotOf(`moving.${i}`) < 40) name = `moving.${i}`;
    const slot = slotOf(name);
    const producerConn = cluster.open();
    await declare(producerConn, [name]);
    const producer = new Producer(producerConn);
    const consumerConn = cluster.open({ brpopTimeout: 1 });
    const got = await consume(consumerConn, [name]);
    const from = (await cluster.topology.ownerOf(slot)).master;
    await waitForTracking(consumerConn, [from]);
    const target = (await cluster.topology.masters()).find((port) => port !== from) as number;
    await cluster.topology.reshard(slot, target);
    // Nothing reaches the idle consumer's connections from the move (the queue has no key to
    // migrate): its check poll, at most COVERED_CHECK_MS (5 s) later, meets MOVED.
    const movedAt = performance.now();
    await waitForTracking(consumerConn, [target], 15_000);
    const followedMs = performance.now() - movedAt;
    await idle(consumerConn, 300);
    for (let attempt = 0; ; attempt++) {
      try {
        await producer.publish({ id: 'after-reshard' }, { exchange: '', routingKey: name });
        break;
      } catch (error) {
        if (attempt >= 20) throw error;
        await sleep(100);
      }
    }
    const sent = performance.now();
    await drainWhile(consumerConn, () => got.length === 1, 10_000, 'delivery after the resharding');
    const ms = performance.now() - sent;
    expect(got).toEqual(['after-reshard']);
    expect(ms, 'delivered after (ms)').toBeLessThan(1000);
    console.info(`[cluster] sharded tracking: slot ${slot} ${from} -> ${target}, tracking followed ${followedMs.toFixed(0)} ms after the move, delivered ${ms.toFixed(0)} ms after the publish`);
    await consumerConn.close();
    await producerConn.close();
  }, 120_000);

  it('follows a failover: the promoted replica wakes the consumer too', async () => {
    const [queue] = (await queuesOnMasters('failover', 1, 1)).values().next().value as string[];
    const name = queue as string;
    const producerConn = cluster.open();
    await declare(producerConn, [name]);
    const producer = new Producer(producerConn);
    const consumerConn = cluster.open({ brpopTimeout: 5 });
    const got = await consume(consumerConn, [name]);
    const { master } = await cluster.topology.ownerOf(slotOf(name));
    await waitForTracking(consumerConn, [master]);

    const { port: oldMaster } = await cluster.topology.killMasterOf(slotOf(name));
    const newMaster = await cluster.topology.waitForNewMaster(slotOf(name), oldMaster, 30_000);
    await waitForTracking(consumerConn, [newMaster], 30_000);
    await idle(consumerConn, 300);
    // The producer's own pool may still point at the dead master: it retries as an application would.
    for (let attempt = 0; ; attempt++) {
      try {
        await producer.publish({ id: 'after-failover' }, { exchange: '', routingKey: name });
        break;
      } catch (error) {
        if (attempt >= 100) throw error;
        await sleep(100);
      }
    }
    const sent = performance.now();
    await drainWhile(consumerConn, () => got.length === 1, 10_000, 'delivery after the failover');
    const ms = performance.now() - sent;
    expect(got).toEqual(['after-failover']);
    expect(ms, 'delivered after (ms)').toBeLessThan(1000);
    console.info(`[cluster] sharded tracking: master ${oldMaster} -> ${newMaster}, delivered ${ms.toFixed(0)} ms after the publish with brpopTimeout 5 s`);
    await consumerConn.close();
    await producerConn.close();
  }, 120_000);
});
