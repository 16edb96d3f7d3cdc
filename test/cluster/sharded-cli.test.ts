/**
 * The `kelp` command on a cluster URL in the sharded layout (`?cluster_layout=sharded`): publish,
 * inspect (every queue on every master, delayed messages too), consume, restore, dead letters and
 * bench workloads (publish, consume+ack, 100 queues, delayed-move; not fanout-10, whose wait for 10 subscribers counts
 * subscriptions, and a process subscribes once per exchange in this layout), printing no password.
 * Then `kelp publish --confirm`, and `kelp dead-letters --requeue` on queues of two masters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { kelp } from '../cli/kelp-process.js';
import { startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';
import { shardedKeys } from './support/sharded-keys.js';

let topology: ClusterTopology;
beforeAll(async () => {
  topology = await startClusterTopology();
}, 60_000);
afterAll(() => topology?.stop());

const secrets = /cluster-secret/;
const shardedUrl = () => {
  const [first, ...others] = topology.url().split(';');
  return [`${first}?cluster_layout=sharded&global_keyprefix=cli:`, ...others].join(';');
};

describe('the kelp command on a sharded cluster URL', () => {
  it('publishes to queues on several masters, inspects them all, consumes, restores and benches', { timeout: 120_000 }, async () => {
    const url = shardedUrl();
    const queues = ['cli.a', 'cli.b', 'cli.c', 'cli.d', 'cli.e', 'cli.f'];
    for (const queue of queues) {
      const run = await kelp(['publish', url, '--exchange', 'cli-x', '--routing-key', queue, '--queue', queue, '--count', '2', 'job', '--json']);
      expect([run.code, run.stderr]).toEqual([0, '']);
    }
    const inspected = await kelp(['inspect', url, '--json']);
    expect([inspected.code, inspected.stderr]).toEqual([0, '']);
    const report = JSON.parse(inspected.stdout) as { queues: { name: string; length: number }[]; exchanges: { name: string; bindings: unknown[] }[] };
    expect(report.queues.filter((q) => queues.includes(q.name)).map((q) => [q.name, q.length])).toEqual(queues.map((q) => [q, 2]));
    expect(report.exchanges.find((e) => e.name === 'cli-x')?.bindings).toHaveLength(6);

    const consumed = await kelp(['consume', url, '--queue', 'cli.a', '--count', '2', '--json']);
    expect([consumed.code, consumed.stdout.trim().split('\n').length]).toEqual([0, 2]);
    const restored = await kelp(['restore', url, '--older-than', '0', '--json']);
    expect([restored.code, restored.stderr]).toEqual([0, '']);
    const deadLetters = await kelp(['dead-letters', url, '--queue', 'cli.b', '--json']);
    expect(deadLetters.code).toBe(0);
    // A delayed publish: stored in the queue's delayed set on its master, shown by inspect.
    const delayed = await kelp(['publish', url, '--exchange', 'cli-later', '--routing-key', 'cli.later', '--queue', 'cli.later', '--countdown', '600', 'job', '--json']);
    expect([delayed.code, delayed.stderr]).toEqual([0, '']);
    const later = await kelp(['inspect', url, '--json']);
    expect([later.code, later.stderr]).toEqual([0, '']);
    const laterRow = (JSON.parse(later.stdout) as { queues: { name: string; length: number; delayed?: number; nextDueAt?: number }[] }).queues.find((q) => q.name === 'cli.later');
    expect([laterRow?.length, laterRow?.delayed]).toEqual([0, 1]);
    expect(laterRow?.nextDueAt).toBeGreaterThan(Date.now() / 1000 + 500);

    const bench = await kelp(['bench', url, '--workloads', 'publish-serial,consume-ack-p100,queues-100,delayed-move', '--messages', '2000', '--json'], { timeoutMs: 90_000 });
    expect([bench.code, bench.stderr]).toEqual([0, '']);
    const { results } = JSON.parse(bench.stdout) as { results: { id: string; rate: number; messages: number; error?: string; extra?: Record<string, unknown> }[] };
    expect(results.map((r) => r.id)).toEqual(['publish-serial', 'consume-ack-p100', 'queues-100', 'delayed-move']);
    // The mover moved every due message of the workload (the one due in 600 s stays).
    const move = results.find((r) => r.id === 'delayed-move');
    expect([move?.error, move?.messages]).toEqual([undefined, move?.extra?.['expected']]);
    console.info(`[cluster] sharded bench (2,000 messages): ${results.map((r) => `${r.id} ${Math.round(r.rate)}/s`).join(', ')}`);
    for (const run of [inspected, consumed, restored, deadLetters, delayed, later, bench]) expect(`${run.stdout}${run.stderr}`).not.toMatch(secrets);
  });

  it('publishes with --confirm on a sharded URL: every message confirmed by a replica', { timeout: 60_000 }, async () => {
    const run = await kelp(['publish', shardedUrl(), '--exchange', 'cli-confirm', '--routing-key', 'cli.confirmed', '--queue', 'cli.confirmed', '--count', '3', '--confirm', '1', '--confirm-timeout', '5', 'job', '--json']);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(JSON.parse(run.stdout)).toMatchObject({ published: 3, routed: 3, unconfirmed: 0 });
    expect(run.stdout).not.toMatch(secrets);
  });

  it('requeues the dead letters of queues on two masters with kelp dead-letters --requeue, keeping what is not an envelope', { timeout: 60_000 }, async () => {
    const url = shardedUrl();
    const keys = shardedKeys('cli:');
    const masterOf = async (queue: string) => (await topology.ownerOf(keySlot(keys.queueKey(queue)))).master;
    // Two queues on two masters.
    const first = 'cli.dl.0';
    let second = '';
    for (let i = 1; second === ''; i++) if ((await masterOf(`cli.dl.${i}`)) !== (await masterOf(first))) second = `cli.dl.${i}`;
    for (const queue of [first, second]) {
      const published = await kelp(['publish', url, '--exchange', 'cli-dl', '--routing-key', queue, '--queue', queue, '--count', '3', 'job', '--json']);
      expect([published.code, published.stderr]).toEqual([0, '']);
      // The three envelopes kelp stored become dead letters (records as kelp writes them), with one record that holds no envelope.
      const node = topology.nodeClient(await masterOf(queue));
      try {
        for (let n = 0; n < 3; n++) {
          const envelope = await node.rpop(keys.queueKey(queue));
          await node.lpush(keys.deadLetterKey(queue), JSON.stringify({ reason: 'rejected', queue, time: Date.now() / 1000, payload: envelope }));
        }
        await node.lpush(keys.deadLetterKey(queue), JSON.stringify({ reason: 'rejected', queue, time: Date.now() / 1000, payload: 'not an envelope' }));
      } finally {
        node.disconnect();
      }
      const listed = await kelp(['dead-letters', url, '--queue', queue, '--json']);
      expect([listed.code, (JSON.parse(listed.stdout) as { count: number }).count]).toEqual([0, 4]);
      const requeued = await kelp(['dead-letters', url, '--queue', queue, '--requeue', '--json']);
      expect([requeued.code, requeued.stderr]).toEqual([0, '']);
      expect(JSON.parse(requeued.stdout)).toEqual({ queue, requeued: 3, skipped: 1 });
      const check = topology.nodeClient(await masterOf(queue));
      try {
        expect([await check.llen(keys.queueKey(queue)), await check.llen(keys.deadLetterKey(queue))]).toEqual([3, 1]);
      } finally {
        check.disconnect();
      }
      const consumed = await kelp(['consume', url, '--queue', queue, '--count', '3', '--json']);
      expect([consumed.code, consumed.stdout.trim().split('\n').length]).toEqual([0, 3]);
      expect(`${listed.stdout}${requeued.stdout}${requeued.stderr}`).not.toMatch(secrets);
    }
  });
});
