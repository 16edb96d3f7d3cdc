/**
 * The `kelp` command on a cluster URL in the sharded layout (`?cluster_layout=sharded`): publish,
 * inspect (every queue on every master, delayed messages too), consume, restore, dead letters and
 * bench workloads (publish, consume+ack, 100 queues, delayed-move; not fanout-10, whose wait for 10 subscribers counts
 * subscriptions, and a process subscribes once per exchange in this layout), printing no password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kelp } from '../cli/kelp-process.js';
import { startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';

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
});
