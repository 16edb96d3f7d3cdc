/**
 * `kelp inspect` and `kelp restore` on keys written by Python Kombu: a Kombu process publishes 5
 * messages, takes 3 without acking and dies, leaving them in `unacked`.
 *
 * These commands need the Redis transport's admin object (`transport.admin`, core's
 * TransportAdmin). Until the transport has one, the CLI answers "not supported" and the second
 * block checks exactly that; the first block runs once it exists.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Connection } from 'kelp';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';
import { jsonLines, kelp } from './kelp-process.js';

const run = promisify(execFile);

const KOMBU_LEAVE_UNACKED = `
import sys, os
from kombu import Connection, Exchange, Queue
url, n, take = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ex = Exchange('py.tasks', type='direct')
q = Queue('py.q', ex, routing_key='py')
conn = Connection(url)
producer = conn.Producer()
for i in range(n):
    producer.publish({'n': i}, exchange=ex, routing_key='py', declare=[q])
bound = q(conn.default_channel)
for i in range(take):
    assert bound.get(no_ack=False) is not None
os._exit(0)  # a crash: no close, so nothing is restored
`;

async function transportHasAdmin(): Promise<boolean> {
  const db = await freshDb();
  const connection = new Connection(db.url);
  try {
    await connection.connect();
    return typeof (connection.transport as { admin?: unknown }).admin === 'object';
  } finally {
    await connection.close();
  }
}
const hasAdmin = await transportHasAdmin();

let db: FreshDb;
let redis: Redis;
beforeAll(async () => {
  db = await freshDb();
  redis = new Redis(db.url);
  await run('/usr/bin/python3', ['-c', KOMBU_LEAVE_UNACKED, db.url, '5', '3'], { timeout: 30_000 });
});
afterAll(async () => {
  await redis.quit();
});

describe.skipIf(!hasAdmin)('kelp inspect and restore on what Python Kombu left', () => {
  it('inspect lists the exchange binding, the queue length and the unacked count', async () => {
    const result = await kelp(['inspect', db.url, '--json']);
    expect(result.code).toBe(0);
    const [report] = jsonLines(result.stdout) as unknown as {
      exchanges: { name: string; bindings: { queue: string; routingKey: string }[] }[];
      queues: { name: string; length: number; unacked: number; oldestUnackedAge: number | null }[];
      unackedTotal: number;
    }[];
    expect(report?.exchanges.find((e) => e.name === 'py.tasks')?.bindings).toEqual([
      expect.objectContaining({ queue: 'py.q', routingKey: 'py' }),
    ]);
    const queue = report?.queues.find((q) => q.name === 'py.q');
    expect(queue).toMatchObject({ length: 2, unacked: 3 });
    expect(queue?.oldestUnackedAge).toBeGreaterThanOrEqual(0);
    expect(report?.unackedTotal).toBe(3);
  });

  it('restore --dry-run counts the 3 unacked messages and moves nothing', async () => {
    const result = await kelp(['restore', db.url, '--older-than', '0', '--dry-run', '--json']);
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)[0]).toMatchObject({ dryRun: true, total: 3, restored: [{ queue: 'py.q', count: 3 }] });
    expect([await redis.llen('py.q'), await redis.hlen('unacked')]).toEqual([2, 3]);
  });

  it('restore with the default threshold leaves messages younger than the visibility timeout', async () => {
    const result = await kelp(['restore', db.url, '--json']);
    expect(jsonLines(result.stdout)[0]).toMatchObject({ dryRun: false, total: 0 });
    expect(await redis.hlen('unacked')).toBe(3);
  });

  it('restore --older-than 0 puts the 3 back on their queue', async () => {
    const result = await kelp(['restore', db.url, '--older-than', '0']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('restored 3 messages unacked for more than 0 s (py.q: 3)\n');
    expect([await redis.llen('py.q'), await redis.hlen('unacked'), await redis.zcard('unacked_index')]).toEqual([5, 0, 0]);
  });
});

describe.skipIf(hasAdmin)('kelp inspect and restore before the transport supports them', () => {
  it.each([['inspect'], ['restore'], ['dead-letters']])('kelp %s exits 1 with one "not supported" line', async (command) => {
    const args = command === 'dead-letters' ? [command, db.url, '--queue', 'py.q'] : [command, db.url];
    const result = await kelp(args);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`kelp: error: kelp ${command} is not supported for the redis transport yet\n`);
  });
});
