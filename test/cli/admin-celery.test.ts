/**
 * The built `kelp inspect`, `kelp restore` and `kelp dead-letters` on a Redis db populated by
 * Python: a Celery 5.2.6 client sends tasks with send_task, and a Kombu 5.2.4 consumer takes
 * one without acking and exits (a crash: it stays in `unacked`). Then the same commands on
 * memory://, where each CLI process has its own empty broker.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Connection, Queue } from 'kelp';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';
import { jsonLines, kelp } from './kelp-process.js';

const run = promisify(execFile);
const SEP = '\x06\x16';

const CELERY_SEND = `
import sys
from celery import Celery
app = Celery('sender', broker=sys.argv[1])
for i in range(3):
    app.send_task('tasks.add', args=(i, 1), priority=[0, 0, 9][i])
`;

const KOMBU_TAKE_AND_CRASH = `
import sys, os
from kombu import Connection, Queue
conn = Connection(sys.argv[1])
bound = Queue('celery', routing_key='celery')(conn.default_channel)
m = bound.get(no_ack=False)
assert m is not None
print(m.headers['id'])
sys.stdout.flush()
os._exit(0)
`;

interface Report {
  exchanges: { name: string; bindings: { queue: string; routingKey: string }[] }[];
  queues: { name: string; length: number; priorityLengths: Record<string, number>; unacked: number; oldestUnackedAge: number | null; deadLetters: number }[];
  unackedTotal: number;
}

let db: FreshDb;
let redis: Redis;
let takenTaskId: string;
beforeAll(async () => {
  db = await freshDb();
  redis = new Redis(db.url);
  await run('/usr/bin/python3', ['-c', CELERY_SEND, db.url], { timeout: 30_000 });
  takenTaskId = (await run('/usr/bin/python3', ['-c', KOMBU_TAKE_AND_CRASH, db.url], { timeout: 30_000 })).stdout.trim();
});
afterAll(async () => {
  await redis.quit();
});

describe('kelp admin commands on what Celery and Kombu left in Redis', () => {
  it('inspect --json shows the celery binding, 2 waiting tasks by priority step and the 1 held unacked', async () => {
    const result = await kelp(['inspect', db.url, '--json']);
    expect(result.code).toBe(0);
    const report = jsonLines(result.stdout)[0] as unknown as Report;
    expect(report.exchanges.find((e) => e.name === 'celery')?.bindings).toEqual([{ queue: 'celery', routingKey: 'celery' }]);
    const celery = report.queues.find((q) => q.name === 'celery');
    expect(celery).toMatchObject({ length: 2, unacked: 1, deadLetters: 0 });
    expect(Object.values(celery?.priorityLengths ?? {}).reduce((a, b) => a + b, 0)).toBe(2);
    expect(report.unackedTotal).toBe(1);
  });

  it('restore --queue celery --older-than 0 puts the held task back at the head, marked redelivered', async () => {
    const result = await kelp(['restore', db.url, '--older-than', '0', '--queue', 'celery', '--json']);
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)[0]).toMatchObject({ dryRun: false, total: 1, restored: [{ queue: 'celery', count: 1 }] });
    const head = JSON.parse((await redis.lindex('celery', -1)) as string) as { headers: Record<string, unknown> };
    expect([head.headers['id'], head.headers['redelivered'], await redis.hlen('unacked')]).toEqual([takenTaskId, true, 0]);
  });

  it('dead-letters lists a task a kelp consumer refused, and --requeue puts it back on the queue', async () => {
    const connection = new Connection(db.url);
    try {
      const message = await new Queue('celery').bind(await connection.defaultChannel()).get();
      expect(message).toBeDefined();
      await (await connection.defaultChannel()).basicDeadLetter?.(message?.deliveryTag as string, 'refused by the test');
    } finally {
      await connection.close();
    }
    const listed = await kelp(['dead-letters', db.url, '--queue', 'celery', '--json']);
    expect(listed.code).toBe(0);
    const body = jsonLines(listed.stdout)[0] as { count: number; entries: { reason: string; raw: string; rawEncoding: string }[] };
    expect(body.count).toBe(1);
    expect(body.entries[0]?.reason).toBe('refused by the test');
    expect((JSON.parse(body.entries[0]?.raw ?? '{}') as { headers: { task: string } }).headers.task).toBe('tasks.add');
    const requeued = await kelp(['dead-letters', db.url, '--queue', 'celery', '--requeue', '--json']);
    expect(jsonLines(requeued.stdout)[0]).toEqual({ queue: 'celery', requeued: 1, skipped: 0 });
    expect([await redis.llen(`celery${SEP}dead`), (await redis.llen('celery')) + (await redis.llen(`celery${SEP}9`))]).toEqual([0, 3]);
  });
});

describe('kelp admin commands on memory://', () => {
  it('inspect on a fresh memory broker reports nothing and exits 0', async () => {
    const result = await kelp(['inspect', 'memory://', '--json']);
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)[0]).toEqual({ exchanges: [], queues: [], unackedTotal: 0, visibilityTimeout: 3600 });
  });

  it('restore and dead-letters answer with empty results', async () => {
    const restore = await kelp(['restore', 'memory://', '--older-than', '0', '--json']);
    expect(jsonLines(restore.stdout)[0]).toEqual({ dryRun: false, olderThan: 0, restored: [], total: 0 });
    const dead = await kelp(['dead-letters', 'memory://', '--queue', 'q']);
    expect([dead.code, dead.stdout]).toEqual([0, 'no dead letters for q\n']);
  });
});
