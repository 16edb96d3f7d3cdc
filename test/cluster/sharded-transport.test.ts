/**
 * The transport in the sharded cluster layout through the public API (issue 15, item 3) on a real
 * six-node cluster: 100 queues declared, published to through direct and topic exchanges, and
 * consumed with acks by one Consumer at a prefetch; the queues spread over the three masters,
 * every published id is acked exactly once, nothing stays unacked or waiting on any master, and
 * no node ever answered CROSSSLOT (INFO errorstats). Then: the features the layout does not offer
 * yet are refused with a ConfigurationError naming the layout, before anything is written.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Connection, Consumer, Exchange, OperationalError, Producer, Queue, type Message } from 'kelp';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { caught, drainUntil } from '../conformance/context.js';
import { shardedKeys } from './support/sharded-keys.js';
import { useShardedCluster } from './support/sharded-cluster.js';

const PREFIX = 'spread:';
const QUEUES = Array.from({ length: 100 }, (_, i) => `sq.${i}`);
const PER_QUEUE = 10;
/** Commands the test harness sends (stats, cluster.topology); not kelp's work. */
const HARNESS_COMMANDS = new Set(['config', 'info', 'cluster', 'client', 'auth', 'hello', 'ping', 'select', 'command', 'readonly']);

const keys = shardedKeys(PREFIX);

const cluster = useShardedCluster(PREFIX);
const open = (extra: Record<string, unknown> = {}): Connection => cluster.open(extra);

/** One node's INFO section as name -> value. */
async function info(port: number, section: string): Promise<Map<string, string>> {
  const client = cluster.topology.nodeClient(port);
  try {
    const text = await client.info(section);
    return new Map(text.split('\r\n').filter((line) => line.includes(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]));
  } finally {
    client.disconnect();
  }
}

/**
 * Waits until the node serving `exchange`'s shard channel counts subscribers that `wanted`
 * accepts (PUBSUB SHARDNUMSUB), running `conn`'s loop meanwhile: its ticks place the
 * subscriptions. A pub/sub publish before that reaches nobody.
 */
async function waitForSubscribers(conn: Connection, exchange: string, wanted: (count: number) => boolean, timeoutSeconds = 10): Promise<void> {
  const name = keys.fanoutChannel(exchange, '');
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const node = cluster.topology.nodeClient((await cluster.topology.ownerOf(keySlot(name))).master);
    const reply = (await node.call('PUBSUB', 'SHARDNUMSUB', name).finally(() => node.disconnect())) as [string, number];
    const count = Number(reply[1]);
    if (wanted(count)) return;
    if (Date.now() > deadline) throw new Error(`shard channel ${name} has ${count} subscribers after ${timeoutSeconds} s`);
    await drainUntil(conn, () => false, 0.1).catch(() => undefined);
  }
}

describe('the sharded layout through Connection, Producer and Consumer', () => {
  it('spreads 100 queues over 3 masters and acks every published id once, with no CROSSSLOT', async () => {
    const masters = await cluster.topology.masters();
    expect(masters).toHaveLength(3);
    for (const port of cluster.topology.ports) {
      const node = cluster.topology.nodeClient(port);
      await node.config('RESETSTAT').finally(() => node.disconnect());
    }

    const producerConn = open();
    const channel = await producerConn.channel();
    const direct = new Exchange('sx.direct', { type: 'direct' });
    const topic = new Exchange('sx.topic', { type: 'topic' });
    await direct.bind(channel).declare();
    await topic.bind(channel).declare();
    // Even queues through the direct exchange, odd ones through a topic binding `<q>.#`.
    const queues = QUEUES.map((name, i) =>
      i % 2 === 0 ? new Queue(name, { exchange: direct, routingKey: name }) : new Queue(name, { exchange: topic, routingKey: `${name}.#` }),
    );
    for (const queue of queues) await queue.bind(channel).declare();

    const producer = new Producer(channel);
    const published = new Set<string>();
    for (let n = 0; n < PER_QUEUE; n++) {
      for (const [i, name] of QUEUES.entries()) {
        const id = `${name}#${n}`;
        const result =
          i % 2 === 0
            ? await producer.publish({ id }, { exchange: direct, routingKey: name, priority: n % 3 === 0 ? 6 : 0 })
            : await producer.publish({ id }, { exchange: topic, routingKey: `${name}.x` });
        expect(result.queues).toEqual([name]);
        published.add(id);
      }
    }

    // Where the queues live: every master holds some.
    const owners = new Map<number, number>();
    for (const name of QUEUES) {
      const { master } = await cluster.topology.ownerOf(keySlot(keys.queueKey(name)));
      owners.set(master, (owners.get(master) ?? 0) + 1);
    }
    expect([...owners.keys()].sort()).toEqual([...masters].sort());

    const consumerConn = open();
    const acked = new Map<string, number>();
    const consumer = new Consumer(await consumerConn.channel(), queues, {
      prefetchCount: 50,
      onMessage: (message: Message) => {
        const { id } = message.payload as { id: string };
        void message.ack().then(() => acked.set(id, (acked.get(id) ?? 0) + 1));
      },
    });
    await consumer.consume();
    await drainUntil(consumerConn, () => acked.size === published.size, 60);
    await consumer.cancel();
    // Let the last acks land before reading the masters.
    await drainUntil(consumerConn, () => [...acked.values()].reduce((a, b) => a + b, 0) >= published.size, 5);

    expect([...acked.keys()].sort()).toEqual([...published].sort());
    expect([...acked.values()].every((count) => count === 1)).toBe(true);

    // Nothing waits or stays unacked in any queue's own keys, on its own master.
    for (const name of QUEUES) {
      const { master } = await cluster.topology.ownerOf(keySlot(keys.queueKey(name)));
      const client = cluster.topology.nodeClient(master);
      try {
        const own = keys.unackedKeys(name);
        expect(await client.hlen(own.unacked), `${name} unacked`).toBe(0);
        expect(await client.zcard(own.unackedIndex), `${name} unacked_index`).toBe(0);
        for (const key of keys.queueKeys(name)) expect(await client.llen(key), key).toBe(0);
      } finally {
        client.disconnect();
      }
    }

    // Every master ran pops and acks (scripts), each master's share of kelp's commands is within
    // 25% of an even share, and no node ever answered CROSSSLOT.
    const calls = new Map<number, number>();
    for (const port of masters) {
      const stats = await info(port, 'commandstats');
      const count = (name: string) => Number(/calls=(\d+)/.exec(stats.get(`cmdstat_${name}`) ?? '')?.[1] ?? 0);
      expect(count('evalsha') + count('eval'), `scripts on master ${port}`).toBeGreaterThan(0);
      let total = 0;
      for (const [name, value] of stats) {
        if (!HARNESS_COMMANDS.has(name.replace(/^cmdstat_/, '').split('|')[0] as string)) total += Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
      }
      calls.set(port, total);
    }
    const even = [...calls.values()].reduce((a, b) => a + b, 0) / calls.size;
    const shares = [...calls].map(([port, n]) => [port, n / even] as const);
    for (const [port, share] of shares) expect(Math.abs(share - 1), `master ${port}: ${share.toFixed(2)} of an even share`).toBeLessThanOrEqual(0.25);
    for (const port of cluster.topology.ports) {
      const errors = await info(port, 'errorstats');
      expect(errors.get('errorstat_CROSSSLOT'), `CROSSSLOT on ${port}`).toBeUndefined();
      expect(errors.get('errorstat_MOVED'), `MOVED on ${port}`).toBeUndefined();
    }
    console.info(
      `[cluster] sharded transport spread: ${[...owners].map(([port, n]) => `${port}: ${n} queues, ${calls.get(port)} commands (${((calls.get(port) ?? 0) / even).toFixed(2)} of an even share)`).join('; ')}; ${published.size} ids acked once`,
    );
  }, 120_000);

  it('delivers a fanout publish over sharded pub/sub to the consumer of every bound queue', async () => {
    const conn = open();
    const channel = await conn.channel();
    const exchange = new Exchange('sx.fanout', { type: 'fanout' });
    await exchange.bind(channel).declare();
    const names = ['fan.a', 'fan.b', 'fan.c'];
    const got = new Map<string, string[]>();
    for (const name of names) {
      const queue = new Queue(name, { exchange, routingKey: '' });
      const consumer = new Consumer(await conn.channel(), [queue], {
        onMessage: (message: Message) => {
          got.set(name, [...(got.get(name) ?? []), (message.payload as { id: string }).id]);
          void message.ack();
        },
      });
      await consumer.consume();
    }
    // The subscriptions are placed asynchronously; a publish before them reaches nobody (pub/sub).
    await waitForSubscribers(conn, 'sx.fanout', (count) => count > 0);
    await new Producer(channel).publish({ id: 'news' }, { exchange, routingKey: '' });
    await drainUntil(conn, () => names.every((name) => got.get(name)?.length === 1), 10);
    expect(Object.fromEntries(got)).toEqual({ 'fan.a': ['news'], 'fan.b': ['news'], 'fan.c': ['news'] });
  });

  it('follows a bind and an unbind made after consuming started: the bound queue gets copies, the unbound one none', async () => {
    const conn = open();
    const channel = await conn.channel();
    const exchange = new Exchange('sx.late', { type: 'fanout' });
    await exchange.bind(channel).declare();
    const names = ['late.a', 'late.b'];
    const got = new Map<string, string[]>(names.map((name) => [name, []]));
    const consuming = await conn.channel();
    const queues = names.map((name) => new Queue(name).bind(consuming));
    for (const queue of queues) await queue.declare();
    for (const queue of queues) {
      const consumer = new Consumer(consuming, [queue], {
        onMessage: (message: Message) => {
          got.get(queue.name)?.push((message.payload as { id: string }).id);
          void message.ack();
        },
      });
      await consumer.consume();
    }
    await drainUntil(conn, () => false, 0.3).catch(() => undefined);
    for (const queue of queues) await queue.bindTo(exchange, '', { channel: consuming });
    await waitForSubscribers(conn, 'sx.late', (count) => count > 0);
    const producer = new Producer(channel);
    await producer.publish({ id: 'one' }, { exchange, routingKey: '' });
    await drainUntil(conn, () => names.every((name) => got.get(name)?.length === 1), 10);

    const unbound = queues[1] as Queue;
    await unbound.unbindFrom(exchange, '', { channel: consuming });
    // The bridge re-syncs on the loop's next tick; the channel stays subscribed for late.a.
    await drainUntil(conn, () => false, 0.5).catch(() => undefined);
    await producer.publish({ id: 'two' }, { exchange, routingKey: '' });
    await drainUntil(conn, () => got.get('late.a')?.length === 2, 10);
    await drainUntil(conn, () => false, 0.5).catch(() => undefined);
    expect(Object.fromEntries(got)).toEqual({ 'late.a': ['one', 'two'], 'late.b': ['one'] });
    const node = cluster.topology.nodeClient((await cluster.topology.ownerOf(keySlot(keys.queueKey(unbound.name)))).master);
    expect(await node.llen(keys.queueKey(unbound.name)).finally(() => node.disconnect())).toBe(0);
  });

  it('subscribes the fanout exchanges again after the node closed the subscriber connection', async () => {
    const conn = open();
    const channel = await conn.channel();
    const exchange = new Exchange('sx.killed', { type: 'fanout' });
    await exchange.bind(channel).declare();
    const got: string[] = [];
    const consumer = new Consumer(await conn.channel(), [new Queue('killed.q', { exchange, routingKey: '' })], {
      onMessage: (message: Message) => {
        got.push((message.payload as { id: string }).id);
        void message.ack();
      },
    });
    await consumer.consume();
    await waitForSubscribers(conn, 'sx.killed', (count) => count > 0);
    const producer = new Producer(channel);
    await producer.publish({ id: 'before' }, { exchange, routingKey: '' });
    await drainUntil(conn, () => got.length === 1, 10);

    const master = (await cluster.topology.ownerOf(keySlot(keys.fanoutChannel('sx.killed', '')))).master;
    const node = cluster.topology.nodeClient(master);
    const killed = Number(await node.client('KILL', 'TYPE', 'pubsub').finally(() => node.disconnect()));
    expect(killed).toBeGreaterThan(0);
    await waitForSubscribers(conn, 'sx.killed', (count) => count > 0);
    await producer.publish({ id: 'after' }, { exchange, routingKey: '' });
    await drainUntil(conn, () => got.length === 2, 10);
    expect(got).toEqual(['before', 'after']);
  });
});

describe('transport.admin in the sharded layout', () => {
  it('inspects and restores the unacked messages of queues on every master, each to its own queue', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `adm.${i}`);
    const holder = open();
    const channel = await holder.channel();
    const producer = new Producer(channel);
    const queues = [];
    for (const name of names) {
      const queue = new Queue(name).bind(channel);
      await queue.declare();
      await producer.publish({ id: name }, { exchange: '', routingKey: name });
      queues.push(queue);
    }
    // Taken with acks and never settled: 30 unacked records, in 30 queues' own keys.
    for (const queue of queues) expect((await queue.get())?.payload).toEqual({ id: queue.name });
    const masters = new Set<number>();
    for (const name of names) masters.add((await cluster.topology.ownerOf(keySlot(keys.queueKey(name)))).master);
    expect(masters.size).toBe(3);

    const admin = open().transport.admin;
    if (!admin) throw new Error('the sharded transport has no admin');
    const before = await admin.inspect();
    const rows = before.queues.filter((row) => names.includes(row.name));
    expect(rows.map((row) => [row.name, row.length, row.unacked])).toEqual([...names].sort().map((name) => [name, 0, 1]));
    expect(rows.every((row) => row.oldestUnackedAge !== null)).toBe(true);

    const report = await admin.restore({ olderThan: 0 });
    expect(report.total).toBe(30);
    expect(report.restored).toEqual([...names].sort().map((queue) => ({ queue, count: 1 })));
    const after = (await admin.inspect()).queues.filter((row) => names.includes(row.name));
    expect(after.map((row) => [row.name, row.length, row.unacked])).toEqual([...names].sort().map((name) => [name, 1, 0]));
    expect(await admin.deadLetters(names[0] as string)).toEqual([]);
  });
});

describe('features the sharded layout refuses, naming the layout', () => {
  const namesLayout = (error: unknown) => {
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/sharded cluster layout \(clusterLayout: 'sharded'\)/);
  };

  it('refuses a queue name with a brace, which would scatter its keys over slots', async () => {
    const conn = open();
    const error = await caught(async () => new Queue('bad{name}').bind(await conn.channel()).declare());
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/sharded cluster layout needs a non-empty queue name without braces/);
  });

  it('refuses fanoutPatterns and ackEmulation: false when the connection is made', async () => {
    namesLayout(await caught(() => open({ fanoutPatterns: true }).connect()));
    namesLayout(await caught(() => open({ ackEmulation: false }).connect()));
  });
});

// Last in the file: it moves slots between masters.
describe('a resharding under the sharded transport', () => {
  it('follows a queue whose slot moved while it was being consumed: every id acked, MOVED learned by publisher and consumer', async () => {
    // A queue in the first slots of its master: redis-cli moves a master's lowest slots first.
    let name = '';
    for (let i = 0; name === ''; i++) if (keySlot(keys.queueKey(`moving.${i}`)) < 40) name = `moving.${i}`;
    const slot = keySlot(keys.queueKey(name));
    const publisherConn = open();
    const queue = new Queue(name).bind(await publisherConn.channel());
    await queue.declare();
    const producer = new Producer(publisherConn);
    const published: string[] = [];
    /** Publishes the old master refused (MOVED, or "non local key" for the publish script): they did not run, and kelp does not resend it by itself. */
    let refused = 0;
    const publish = async (n: number) => {
      const id = `${name}#${n}`;
      // No retry policy: the application publishes again, as the docs say, and the connection
      // must have learned the slot's new master from the MOVED reply by then.
      for (let attempt = 0; ; attempt++) {
        try {
          await producer.publish({ id }, { exchange: '', routingKey: name });
          break;
        } catch (error) {
          refused++;
          // Typed and retryable, naming the URL without its password.
          expect(error).toBeInstanceOf(OperationalError);
          expect((error as Error).message).not.toMatch(/cluster-secret/);
          if (attempt > 0) throw error;
        }
      }
      published.push(id);
    };
    for (let n = 0; n < 50; n++) await publish(n);

    const consumerConn = open();
    const acked = new Map<string, number>();
    const consumer = new Consumer(await consumerConn.channel(), [new Queue(name)], {
      prefetchCount: 10,
      onMessage: (message: Message) => {
        const { id } = message.payload as { id: string };
        void message.ack().then(() => acked.set(id, (acked.get(id) ?? 0) + 1), () => undefined);
      },
    });
    await consumer.consume();
    await drainUntil(consumerConn, () => acked.size >= 25, 20);

    const from = (await cluster.topology.ownerOf(slot)).master;
    const target = (await cluster.topology.masters()).find((port) => port !== from) as number;
    await cluster.topology.reshard(slot, target);
    expect((await cluster.topology.ownerOf(slot)).master).toBe(target);

    for (let n = 50; n < 100; n++) await publish(n);
    expect(refused, 'publishes refused after the resharding').toBeLessThanOrEqual(1);
    // A pop or ack that met MOVED is sent once more to the new master (it did not run on the old
    // one), so the drain alone delivers and acks every id: no visibility restore is asked for,
    // and no record may be left in the queue's unacked keys on its new master.
    await drainUntil(consumerConn, () => published.every((id) => acked.has(id)), 30).catch(() => undefined);
    expect(published.filter((id) => !acked.has(id))).toEqual([]);
    await drainUntil(consumerConn, () => false, 0.5).catch(() => undefined);
    const node = cluster.topology.nodeClient(target);
    try {
      const own = keys.unackedKeys(name);
      expect({ records: await node.hlen(own.unacked), index: await node.zcard(own.unackedIndex) }).toEqual({ records: 0, index: 0 });
    } finally {
      node.disconnect();
    }
    const duplicates = [...acked.values()].filter((count) => count > 1).length;
    console.info(`[cluster] sharded reshard: ${published.length} ids acked, ${duplicates} delivered twice, ${refused} publish refused by the old master, slot ${slot} ${from} -> ${target}`);
  }, 120_000);
});
