/**
 * rediscluster:// in single-slot mode on a real six-node cluster: where the connections go, where
 * the keys land, what is refused, and every `kelp` command on a cluster URL.
 */
import { Connection, ConfigurationError, Exchange, Queue, SimpleQueue, type Message } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { kelp } from '../cli/kelp-process.js';
import { repoRoot } from '../setup/child-bundle.js';
import { consumeInProcess } from '../faults/support/in-process.js';
import { waitFor } from '../faults/support/redis-data.js';
import { CLUSTER_PASSWORD, startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';

const PREFIX = '{cl-basic}:';

let topology: ClusterTopology;
beforeAll(async () => {
  topology = await startClusterTopology();
}, 60_000);
afterAll(() => topology?.stop());

const slotOfPrefix = () => topology.slotOf(`${PREFIX}x`);

/** The `name=kelp-*` connections of every node, by port. */
async function kelpClientsByNode(): Promise<Map<number, string[]>> {
  const result = new Map<number, string[]>();
  for (const port of topology.ports) {
    const client = topology.nodeClient(port);
    try {
      const names = String(await client.client('LIST')).split('\n').map((line) => / name=(kelp-\S+)/.exec(line)?.[1]).filter((name): name is string => name !== undefined);
      result.set(port, names.sort());
    } finally {
      client.disconnect();
    }
  }
  return result;
}

/** Runs a program of examples/ (against the built packages) and collects its output. */
function runNode(file: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd: repoRoot, timeout: 50_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Patterns the kelp subscriber connections of one node are subscribed to. */
async function subscriberPatterns(port: number): Promise<number> {
  const client = topology.nodeClient(port);
  try {
    const lines = String(await client.client('LIST')).split('\n').filter((line) => / name=kelp-subscriber /.test(line));
    return lines.reduce((sum, line) => sum + Number(/ psub=(\d+)/.exec(line)?.[1] ?? 0), 0);
  } finally {
    client.disconnect();
  }
}

describe('rediscluster:// in single-slot mode', () => {
  it('puts every connection of a consuming, confirming transport on the master of the prefix slot', async () => {
    const { master } = await topology.ownerOf(await slotOfPrefix());
    await using connection = new Connection(topology.url(), { transportOptions: { globalKeyprefix: PREFIX } });
    const queue = new SimpleQueue(connection, 'placement');
    await queue.put({ n: 1 }, { confirm: { replicas: 1, timeout: 5 } });
    const message = await queue.get({ timeout: 5 });
    expect(message.decode()).toEqual({ n: 1 });
    const byNode = await kelpClientsByNode();
    expect(byNode.get(master)).toEqual(['kelp-command', 'kelp-confirm', 'kelp-poll', 'kelp-subscriber']);
    for (const [port, names] of byNode) if (port !== master) expect(names, `node ${port}`).toEqual([]);
    await message.ack();
  });

  it('writes Kombu\'s keys under the prefix, all on that master', async () => {
    const { master } = await topology.ownerOf(await slotOfPrefix());
    await using connection = new Connection(topology.url(), { transportOptions: { globalKeyprefix: PREFIX } });
    const queue = new SimpleQueue(connection, 'keys-q');
    await queue.put({ n: 1 });
    await queue.put({ n: 2 });
    const client = topology.nodeClient(master);
    expect(await client.llen(`${PREFIX}keys-q`)).toBe(2);
    const message = await queue.get({ timeout: 5 });
    try {
      const keys = (await client.keys(`${PREFIX}*`)).filter((key) => key.includes('keys-q') || key.includes('unacked')).sort();
      expect(keys).toEqual([`${PREFIX}_kombu.binding.keys-q`, `${PREFIX}unacked`, `${PREFIX}unacked_index`].sort());
      // Both were taken by the consumer's first pop (prefetch): one in hand, one buffered.
      expect(await client.hlen(`${PREFIX}unacked`)).toBe(2);
    } finally {
      client.disconnect();
    }
    await message.ack();
  });

  it('reaches a fanout consumer through a publish made on another transport', async () => {
    await using consumer = new Connection(topology.url(), { transportOptions: { globalKeyprefix: PREFIX } });
    await using producer = new Connection(topology.url(1), { transportOptions: { globalKeyprefix: PREFIX } });
    const exchange = new Exchange('fan-x', { type: 'fanout' });
    const got: unknown[] = [];
    const running = await consumeInProcess(consumer, new Queue('fan-q', { exchange }), {
      onMessage: async (message: Message) => {
        got.push(message.decode());
        await message.ack();
      },
    });
    try {
      const { master } = await topology.ownerOf(await slotOfPrefix());
      expect(await waitFor(async () => (await subscriberPatterns(master)) > 0, 10_000, 50)).toBe(true);
      await producer.Producer({ exchange }).publish({ fan: 1 });
      expect(await waitFor(() => got.length > 0, 10_000, 50)).toBe(true);
      expect(got).toEqual([{ fan: 1 }]);
    } finally {
      await running.stop();
    }
  });

  it('refuses a cluster URL whose prefix has no hash tag, naming both ways, without the password', () => {
    const attempt = () => new Connection(topology.url(), { transportOptions: { globalKeyprefix: 'kelp:' } }).transport;
    expect(attempt).toThrow(ConfigurationError);
    expect(attempt).toThrow(/globalKeyprefix.*clusterLayout: 'sharded'/);
    expect(attempt).not.toThrow(new RegExp(CLUSTER_PASSWORD));
  });

  it('fails to connect with a wrong password, naming the URL but no password', async () => {
    const url = topology.url().replace(CLUSTER_PASSWORD, 'wrong-password');
    const connection = new Connection(url, { transportOptions: { globalKeyprefix: PREFIX, max_retries: 0 } });
    const error = await connection.connect().then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    await connection.close();
    expect(`${error?.message} ${String((error?.cause as Error | undefined)?.message)}`).toMatch(/WRONGPASS|invalid username-password/i);
    expect(error?.message).toMatch(/rediscluster:\/\/:\*\*@127\.0\.0\.1/);
    expect(error?.message).not.toMatch(/wrong-password|cluster-secret/);
  });
});

describe('the kelp command on a rediscluster:// URL', () => {
  const secrets = /cluster-secret/;
  const cliUrl = () => {
    const [first, ...others] = topology.url().split(';');
    return [`${first}?global_keyprefix=${encodeURIComponent('{cl-cli}:')}`, ...others].join(';');
  };

  it('publishes, inspects, consumes, purges, restores, lists dead letters, runs the demo and a bench, printing no password', { timeout: 90_000 }, async () => {
    const url = cliUrl();
    const published = await kelp(['publish', url, '--exchange', 'cli-x', '--routing-key', 'cli-q', '--queue', 'cli-q', '--count', '3', 'job', '--json']);
    expect([published.code, published.stderr]).toEqual([0, '']);
    const inspected = await kelp(['inspect', url, '--json']);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toMatch(/"cli-q"/);
    const consumed = await kelp(['consume', url, '--queue', 'cli-q', '--count', '2', '--json']);
    expect([consumed.code, consumed.stdout.trim().split('\n').length]).toEqual([0, 2]);
    const purged = await kelp(['purge', url, '--queue', 'cli-q', '--json']);
    expect(purged.code).toBe(0);
    expect(purged.stdout).toMatch(/1/);
    const { master } = await topology.ownerOf(await topology.slotOf('{cl-cli}:x'));
    const client = topology.nodeClient(master);
    try {
      expect([await client.llen('{cl-cli}:cli-q'), await client.hlen('{cl-cli}:unacked')]).toEqual([0, 0]);
    } finally {
      client.disconnect();
    }
    const restored = await kelp(['restore', url, '--older-than', '0', '--dry-run', '--json']);
    const deadLetters = await kelp(['dead-letters', url, '--queue', 'cli-q', '--json']);
    const demo = await kelp(['demo', url, '--messages', '200', '--json'], { timeoutMs: 60_000 });
    const bench = await kelp(['bench', url, '--workloads', 'publish-serial', '--messages', '500', '--json'], { timeoutMs: 60_000 });
    expect([restored.code, deadLetters.code, demo.code, bench.code], `${bench.stderr}${demo.stderr}`).toEqual([0, 0, 0, 0]);
    expect(demo.stdout).toMatch(/rediscluster:\/\/:\*\*@127\.0\.0\.1/);
    for (const run of [published, inspected, consumed, purged, restored, deadLetters, demo, bench]) expect(`${run.stdout}${run.stderr}`).not.toMatch(secrets);
  });

  it('runs examples/redis-cluster.mjs on the cluster URL', { timeout: 60_000 }, async () => {
    const run = await runNode(join(repoRoot, 'examples', 'redis-cluster.mjs'), [cliUrl(), '1']);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/published 10 ticks, consumed 10 \(none lost\)/);
    expect(run.stdout).not.toMatch(secrets);
  });

  it('refuses a URL without a hash tag with exit code 2 or 1 and the way out', async () => {
    const run = await kelp(['inspect', topology.url()]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/global_keyprefix/);
    expect(run.stderr).not.toMatch(secrets);
  });
});
