/**
 * The sharded layout's consume rate per master with 1, 2 and 3 masters (issue 15, "Spread"), and
 * the Redis CPU per consumed+acked message behind the capacity model. Below the transport (which
 * is tested in sharded-transport.test.ts): 100 queues filled, then drained by one loop per master through
 * the per-master pool (pop-and-record 100 at a time on the queue's own unacked keys, then one ack
 * call per batch), the loops running together. Each run starts its own cluster of masters without
 * replicas. On a shared 2-core machine the figures say where the work goes, not what a dedicated
 * core per master carries: the loops of every master share one Node process and the cores.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ClusterNodePool } from '../../packages/transport-redis/src/cluster-node-pool.js';
import { ackTags, call, defineScripts, parsePopReply, popAndRecordArgs } from '../../packages/transport-redis/src/scripts.js';
import { CLUSTER_PASSWORD, startClusterTopology } from '../setup/cluster-topology.js';
import { shardedKeys } from './support/sharded-keys.js';

const QUEUES = Array.from({ length: 100 }, (_, i) => `rate.${i}`);
const PER_QUEUE = 300;
const BATCH = 100;

const keys = shardedKeys('rate:');

const envelope = (queue: string, n: number): string =>
  JSON.stringify({
    body: Buffer.from(JSON.stringify({ n, pad: 'x'.repeat(100) })).toString('base64'),
    'content-type': 'application/json',
    'content-encoding': 'utf-8',
    headers: {},
    properties: { delivery_tag: `${queue}#${n}`, delivery_info: { exchange: '', routing_key: queue }, body_encoding: 'base64', priority: 0 },
  });

/** used_cpu_user + used_cpu_sys of one node, in seconds. */
async function cpuSeconds(client: Redis): Promise<number> {
  const text = await client.info('cpu');
  const read = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)?.[1] ?? 0);
  return read('used_cpu_user') + read('used_cpu_sys');
}

/** Pops and acks every message of `queues` on `client`, one queue after another; returns how many, and the seconds it took. */
async function drain(client: Redis, queues: readonly string[]): Promise<{ done: number; seconds: number }> {
  const started = process.hrtime.bigint();
  let done = 0;
  for (const queue of queues) {
    const unacked = keys.unackedKeys(queue);
    const pairs = [[keys.queueKey(queue), keys.deadLetterKey(queue)] as const];
    for (;;) {
      const args = popAndRecordArgs({ ...unacked, queues: pairs, expiredDropped: keys.droppedKeyOf(queue, 'expired') }, { now: Date.now() / 1000, limit: BATCH, record: true });
      const entries = parsePopReply(await call(client, 'popAndRecord', args));
      if (entries.length === 0) break;
      done += await ackTags(client, unacked.unacked, unacked.unackedIndex, entries.map((entry) => (entry.kind === 'message' ? entry.deliveryTag : '')));
    }
  }
  return { done, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function measure(masters: number): Promise<{ perMaster: number; total: number; cpuMicros: number; shares: number[] }> {
  const topology = await startClusterTopology({ masters });
  const pool = new ClusterNodePool({
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
  try {
    const groups = await pool.group(QUEUES, (queue) => keys.queueSlot(queue));
    expect(groups.size).toBe(masters);
    for (const [client, queues] of groups) {
      for (const queue of queues) await client.lpush(keys.queueKey(queue), ...Array.from({ length: PER_QUEUE }, (_, n) => envelope(queue, n)));
    }
    const clients = [...groups.keys()];
    const cpuBefore = await Promise.all(clients.map(cpuSeconds));
    const started = process.hrtime.bigint();
    const loops = await Promise.all([...groups].map(([client, queues]) => drain(client, queues)));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuAfter = await Promise.all(clients.map(cpuSeconds));
    const total = loops.reduce((sum, loop) => sum + loop.done, 0);
    expect(total).toBe(QUEUES.length * PER_QUEUE);
    const cpu = cpuAfter.reduce((sum, after, i) => sum + after - (cpuBefore[i] as number), 0);
    // Each master's own rate (its messages over its loop's time), averaged over the masters.
    const perMaster = loops.reduce((sum, loop) => sum + loop.done / loop.seconds, 0) / masters;
    return { perMaster, total: total / seconds, cpuMicros: (cpu / total) * 1e6, shares: loops.map((loop) => loop.done / (total / masters)) };
  } finally {
    pool.close();
    await topology.stop();
  }
}

describe('the sharded layout over 1, 2 and 3 masters', () => {
  it('drains every message on every master count, and reports the consume rate per master and the Redis CPU per message', async () => {
    const lines: string[] = [];
    for (const masters of [1, 2, 3]) {
      const { perMaster, total, cpuMicros, shares } = await measure(masters);
      lines.push(
        `${masters} master(s): ${Math.round(total)} msg/s consumed+acked in all, ${Math.round(perMaster)} per master, ` +
          `${cpuMicros.toFixed(1)} µs of Redis CPU per message, messages per master ${shares.map((s) => s.toFixed(2)).join(' / ')} of an even share`,
      );
    }
    console.log(`[cluster] sharded consume rate (${QUEUES.length} queues x ${PER_QUEUE}, pop ${BATCH} + ack per batch):\n  ${lines.join('\n  ')}`);
  }, 180_000);
});
