/**
 * Python Kombu 5.2.4 (Debian's) and kelp in single-slot mode: kelp on the rediscluster:// URL,
 * Kombu (which has no cluster support) on a redis:// URL of the master serving the hash-tag slot,
 * both with the same `global_keyprefix`. Each consumes what the other publishes, and kelp restores
 * what a crashed Kombu consumer left in `unacked`.
 */
import { Connection, SimpleQueue } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kelp } from '../cli/kelp-process.js';
import { kombu, type PyMessage } from '../interop/kombu-peer.js';
import { requirePython } from '../setup/prerequisites.js';
import { CLUSTER_PASSWORD, startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';

const PREFIX = '{kombu}:';
const PY_OPTIONS = { global_keyprefix: PREFIX };

let topology: ClusterTopology;
let pythonUrl: string;
beforeAll(async () => {
  requirePython(['kombu', 'redis']);
  topology = await startClusterTopology();
  const { master } = await topology.ownerOf(await topology.slotOf(`${PREFIX}x`));
  pythonUrl = `redis://:${CLUSTER_PASSWORD}@127.0.0.1:${master}/0`;
}, 60_000);
afterAll(() => topology?.stop());

const ids = (prefix: string) => Array.from({ length: 5 }, (_, i) => `${prefix}-${i}`);
const kelpOptions = { transportOptions: { globalKeyprefix: PREFIX } };

async function kelpPublishes(queue: string, prefix: string): Promise<void> {
  await using connection = new Connection(topology.url(), kelpOptions);
  const producer = connection.Producer({ routingKey: queue });
  for (const id of ids(prefix)) await producer.publish({ id }, { routingKey: queue, retry: true });
}

async function kelpConsumes(queue: string, count: number): Promise<{ id: string; redelivered: boolean }[]> {
  await using connection = new Connection(topology.url(), kelpOptions);
  const simple = new SimpleQueue(connection, queue);
  const got: { id: string; redelivered: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    const message = await simple.get({ timeout: 10 });
    got.push({ id: (message.decode() as { id: string }).id, redelivered: message.redelivered });
    await message.ack();
  }
  return got;
}

describe('Kombu 5.2.4 on the slot master and kelp on rediscluster://, one global_keyprefix', () => {
  it('Kombu consumes what kelp publishes, and kelp what Kombu publishes', { timeout: 60_000 }, async () => {
    await kelpPublishes('to-python', 'k');
    const consumed = await kombu<{ messages: PyMessage[] }>('consume', { url: pythonUrl, transport_options: PY_OPTIONS, queue: 'to-python', count: 5, timeout: 15 });
    expect(consumed.messages.map((m) => (m.body as { id: string }).id)).toEqual(ids('k'));
    await kombu('publish', { url: pythonUrl, transport_options: PY_OPTIONS, exchange: '', routing_key: 'to-kelp', queue: 'to-kelp', messages: ids('p').map((id) => ({ body: { id } })) });
    expect((await kelpConsumes('to-kelp', 5)).map((m) => m.id)).toEqual(ids('p'));
  });

  it('kelp restores what a crashed Kombu consumer left unacked, and redelivers it', { timeout: 60_000 }, async () => {
    await kelpPublishes('crash-q', 'c');
    const crashed = await kombu<{ tags: string[] }>('crash', { url: pythonUrl, transport_options: PY_OPTIONS, queue: 'crash-q', count: 5 });
    expect(crashed.tags).toHaveLength(5);
    const master = topology.nodeClient(Number(new URL(pythonUrl).port));
    try {
      // Kombu's own record, under the shared prefix: the tags it took, nothing left in the list.
      expect((await master.hkeys(`${PREFIX}unacked`)).sort()).toEqual([...crashed.tags].sort());
      expect(await master.llen(`${PREFIX}crash-q`)).toBe(0);
      const [first, ...others] = topology.url().split(';');
      const url = [`${first}?global_keyprefix=${encodeURIComponent(PREFIX)}`, ...others].join(';');
      const restored = await kelp(['restore', url, '--older-than', '0', '--json']);
      expect([restored.code, restored.stderr]).toEqual([0, '']);
      expect([await master.hlen(`${PREFIX}unacked`), await master.llen(`${PREFIX}crash-q`)]).toEqual([0, 5]);
    } finally {
      master.disconnect();
    }
    const again = await kelpConsumes('crash-q', 5);
    expect(again.map((m) => m.id).sort()).toEqual(ids('c'));
    expect(again.every((m) => m.redelivered)).toBe(true);
  });
});

describe("Kombu 5.2.4's own restore on a cluster master", () => {
  /** Crashes a Kombu consumer holding 3 messages under `prefix`, then runs Kombu's restore_visible. */
  async function kombuRestores(prefix: string): Promise<{ restored: boolean; error: string; left: number }> {
    const { master } = await topology.ownerOf(await topology.slotOf(`${prefix}x`));
    const url = `redis://:${CLUSTER_PASSWORD}@127.0.0.1:${master}/0`;
    const queue = `py-restore-${prefix.slice(1, -2)}`;
    const options = { global_keyprefix: prefix, visibility_timeout: 0 };
    await kombu('publish', { url, transport_options: options, exchange: '', routing_key: queue, queue, messages: ids('r').slice(0, 3).map((id) => ({ body: { id } })) });
    await kombu('crash', { url, transport_options: options, queue, count: 3 });
    const outcome = await kombu('restore', { url, transport_options: options }).then(
      () => ({ restored: true, error: '' }),
      (error: unknown) => ({ restored: false, error: String(error) }),
    );
    const client = topology.nodeClient(master);
    try {
      return { ...outcome, left: await client.hlen(`${prefix}unacked`) };
    } finally {
      client.disconnect();
    }
  }

  it('works when the hash tag is `unacked`, whose slot also holds the unprefixed key Kombu WATCHes', { timeout: 60_000 }, async () => {
    expect(await kombuRestores('{unacked}:')).toEqual({ restored: true, error: '', left: 0 });
  });

  it('fails with MOVED when the unprefixed `unacked` key lives on another master (a Kombu 5.2.4 quirk)', { timeout: 60_000 }, async () => {
    // `kelp` hashes to slot 1926 and `unacked` to 8345: different masters of a three-master cluster.
    const tagMaster = (await topology.ownerOf(await topology.slotOf('{kelp}:x'))).master;
    expect((await topology.ownerOf(await topology.slotOf('unacked'))).master).not.toBe(tagMaster);
    const outcome = await kombuRestores('{kelp}:');
    expect([outcome.restored, outcome.left]).toEqual([false, 3]);
    expect(outcome.error).toMatch(/MOVED/);
  });
});
