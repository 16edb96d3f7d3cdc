/**
 * `healthCheckInterval` and the link events in the sharded layout: while a consumer's loop runs,
 * every master's command connection is PINGed on that interval (counted in each master's
 * INFO commandstats), and so is each confirm connection; a master that stops answering (CLIENT PAUSE: the socket stays open, no
 * reply comes, as on a half-open link) is found by that PING, its connection replaced, and the
 * transport reports connectionLost, then reconnected once the master answers again.
 */
import { describe, expect, it } from 'vitest';
import { Consumer, Producer, Queue, type Connection } from 'kelp';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { drainUntil, sleep } from '../conformance/context.js';
import { shardedKeys } from './support/sharded-keys.js';
import { useShardedCluster } from './support/sharded-cluster.js';

const PREFIX = 'health:';
const keys = shardedKeys(PREFIX);
const cluster = useShardedCluster(PREFIX);

/** PING calls each master has served so far (INFO commandstats). */
async function pingsPerMaster(): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const port of await cluster.topology.masters()) {
    const client = cluster.topology.nodeClient(port);
    try {
      counts.set(port, Number(/cmdstat_ping:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0));
    } finally {
      client.disconnect();
    }
  }
  return counts;
}

async function consume(conn: Connection, queue: string): Promise<void> {
  const channel = await conn.channel();
  await new Queue(queue).bind(channel).declare();
  await new Consumer(channel, [new Queue(queue)], { onMessage: (message) => void message.ack() }).consume();
}

describe('health checks and link events in the sharded layout', () => {
  it('PINGs the command connection of every master on healthCheckInterval while consuming, and not at all with 0', async () => {
    const conn = cluster.open({ healthCheckInterval: 0.2 });
    await consume(conn, 'hc.q');
    const before = await pingsPerMaster();
    await drainUntil(conn, () => false, 1.5).catch(() => undefined);
    const after = await pingsPerMaster();
    await conn.close();
    // 1.5 s at one PING per 0.2 s: about 7 per master; at least 4 leaves room for a slow machine.
    for (const [port, n] of after) expect(n - (before.get(port) ?? 0), `PINGs on master ${port}`).toBeGreaterThanOrEqual(4);

    const off = cluster.open({ healthCheckInterval: 0 });
    await consume(off, 'hc.q');
    const quietBefore = await pingsPerMaster();
    await drainUntil(off, () => false, 1).catch(() => undefined);
    const quietAfter = await pingsPerMaster();
    await off.close();
    for (const [port, n] of quietAfter) expect(n - (quietBefore.get(port) ?? 0), `PINGs on master ${port}`).toBe(0);
  }, 60_000);

  it('PINGs the confirm connections too: their last command is a PING once the loop idles after a confirmed publish', async () => {
    const conn = cluster.open({ healthCheckInterval: 0.2 });
    await consume(conn, 'hc.confirm');
    await new Producer(await conn.channel()).publish({ n: 1 }, { exchange: '', routingKey: 'hc.confirm', confirm: { replicas: 1, timeout: 5 } });
    await drainUntil(conn, () => false, 1).catch(() => undefined);
    const master = (await cluster.topology.ownerOf(keySlot(keys.queueKey('hc.confirm')))).master;
    const client = cluster.topology.nodeClient(master);
    try {
      const confirmLinks = String(await client.call('CLIENT', 'LIST')).split('\n').filter((line) => / name=kelp-confirm /.test(line));
      expect(confirmLinks.map((line) => /\bcmd=(\S+)/.exec(line)?.[1])).toEqual(['ping']);
    } finally {
      client.disconnect();
      await conn.close();
    }
  }, 60_000);

  it('finds a master that stops answering by its PING: connectionLost, then reconnected once it answers again', async () => {
    const queue = 'hc.paused';
    const conn = cluster.open({ healthCheckInterval: 0.2, socketTimeout: 0.5 });
    const events: string[] = [];
    conn.transport.on('connectionLost', () => events.push('connectionLost'));
    conn.transport.on('reconnected', () => events.push('reconnected'));
    conn.transport.on('error', () => undefined);
    await consume(conn, queue);
    await drainUntil(conn, () => false, 0.5).catch(() => undefined);
    expect(events).toEqual([]);
    // Another master than the queue's: nothing but the health check talks to it while consuming.
    const queueMaster = (await cluster.topology.ownerOf(keySlot(keys.queueKey(queue)))).master;
    const quiet = (await cluster.topology.masters()).find((port) => port !== queueMaster) as number;
    const admin = cluster.topology.nodeClient(quiet);
    try {
      // Every client of that master gets no reply for 2 s (the cluster bus and replication go on).
      await admin.call('CLIENT', 'PAUSE', '2000', 'ALL');
      // The loop stops with the connectionLost it reports (drainEvents rejects then), so it is caught.
      await drainUntil(conn, () => events.includes('connectionLost'), 1.9).catch(() => undefined);
      expect(events).toEqual(['connectionLost']);
      // The replaced connection is ready once the pause ends: no loop needed for that.
      for (const deadline = Date.now() + 15_000; !events.includes('reconnected') && Date.now() < deadline; ) await sleep(50);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
      admin.disconnect();
    }
    expect(events).toEqual(['connectionLost', 'reconnected']);
    expect(conn.transport.state).toBe('connected');
  }, 60_000);
});
