/**
 * `kelp inspect` and `kelp restore` on keys written by Python Kombu: a Kombu process publishes 5
 * messages, takes 3 without acking and dies, leaving them in `unacked`.
 *
 * Also `kelp dead-letters` on a malformed message a consumer moved aside.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
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

describe('kelp inspect and restore on what Python Kombu left', () => {
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

describe('kelp dead-letters on redis://', () => {
  it('lists a malformed message a consumer moved aside, with its reason and bytes, and will not requeue it', async () => {
    await kelp(['publish', db.url, '--exchange', 'dl.ex', '--routing-key', 'dl', '--queue', 'dl', 'fine']);
    await redis.lpush('dl', 'not json');
    const consumed = await kelp(['consume', db.url, '--queue', 'dl', '--timeout', '0.5', '--json']);
    expect(jsonLines(consumed.stdout).map((m) => m['body'])).toEqual(['fine']);

    const listed = await kelp(['dead-letters', db.url, '--queue', 'dl', '--json']);
    expect(listed.code).toBe(0);
    expect(jsonLines(listed.stdout)[0]).toMatchObject({
      queue: 'dl',
      count: 1,
      entries: [{ queue: 'dl', reason: 'payload is not a JSON object', raw: 'not json', rawEncoding: 'utf8' }],
    });
    const inspected = await kelp(['inspect', db.url, '--json']);
    const report = jsonLines(inspected.stdout)[0] as { queues: { name: string; deadLetters?: number }[] };
    expect(report.queues.find((q) => q.name === 'dl')).toMatchObject({ length: 0, deadLetters: 1 });

    const requeued = await kelp(['dead-letters', db.url, '--queue', 'dl', '--requeue', '--json']);
    expect(jsonLines(requeued.stdout)[0]).toEqual({ queue: 'dl', requeued: 0, skipped: 1 });
    expect(await redis.llen('dl')).toBe(0);
  });
});

const CELERY_SEND = `
import sys
from celery import Celery
app = Celery('t', broker=sys.argv[1])
for i in range(3):
    app.send_task('tasks.add', args=[i, 2], priority=i * 3)
`;

describe('kelp inspect and consume on what Celery sent', () => {
  it('shows the celery queue by priority and prints the task messages with their Celery headers', async () => {
    const celeryDb = await freshDb();
    await run('/usr/bin/python3', ['-c', CELERY_SEND, celeryDb.url], { timeout: 60_000 });
    const inspected = await kelp(['inspect', celeryDb.url, '--json']);
    expect(inspected.code).toBe(0);
    expect(jsonLines(inspected.stdout)[0]).toMatchObject({
      exchanges: [{ name: 'celery', bindings: [{ queue: 'celery', routingKey: 'celery' }] }],
      queues: [{ name: 'celery', length: 3, priorityLengths: { '0': 1, '3': 1, '6': 1 }, unacked: 0 }],
    });
    const consumed = await kelp(['consume', celeryDb.url, '--queue', 'celery', '--count', '3', '--json']);
    const messages = jsonLines(consumed.stdout);
    // Kombu's priority order on Redis: 0 first.
    expect(messages.map((m) => (m['body'] as unknown[])[0])).toEqual([[0, 2], [1, 2], [2, 2]]);
    expect(messages.every((m) => (m['headers'] as Record<string, unknown>)['task'] === 'tasks.add')).toBe(true);
  });
});
