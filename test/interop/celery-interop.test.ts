/**
 * A Celery 5.2.6 worker executes a task message that kelp published over the Redis transport
 * (protocol 2, anonymous exchange, docs/wire-format.md#celery-task-messages), and kelp reads the
 * result the worker stored.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb } from '../setup/fresh-db.js';
import { message, redisFixture, type RedisFixture } from '../redis/helpers.js';

let fx: RedisFixture;
let backend: Redis;
let worker: ChildProcess | undefined;
let workerLog = '';

beforeAll(async () => {
  fx = await redisFixture();
  const backendDb = await freshDb();
  backend = new Redis(backendDb.url);
  worker = spawn(
    '/usr/bin/python3',
    ['-m', 'celery', '-A', 'celery_tasks', 'worker', '--pool=solo', '-Q', 'kelpq', '--without-heartbeat', '--without-mingle', '--without-gossip', '-l', 'WARNING'],
    {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      env: { ...process.env, KELP_BROKER: fx.db.url, KELP_BACKEND: backendDb.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  worker.stdout?.on('data', (c: Buffer) => (workerLog += c.toString()));
  worker.stderr?.on('data', (c: Buffer) => (workerLog += c.toString()));
});

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((r) => worker?.once('exit', r));
    worker.kill('SIGTERM');
    const timer = setTimeout(() => worker?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  backend.disconnect();
  await fx.close();
});

describe('kelp -> Celery worker', () => {
  it('runs tasks.add(2, 3) published by kelp and stores SUCCESS 5 for kelp to read', async () => {
    const { channel } = await fx.newTransport();
    const id = randomUUID();
    const headers = {
      lang: 'js', task: 'tasks.add', id, shadow: null, eta: null, expires: null, group: null, group_index: null,
      retries: 0, timelimit: [null, null], root_id: id, parent_id: null, argsrepr: '(2, 3)', kwargsrepr: '{}',
      origin: 'node@kelp', ignore_result: false,
    };
    const body = [[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }];
    await channel.basicPublish(message(body, { correlationId: id, replyTo: '', priority: 0 }, headers), '', 'kelpq');
    const deadline = Date.now() + 45_000;
    let stored: string | null = null;
    while (Date.now() < deadline && stored === null) {
      stored = await backend.get(`celery-task-meta-${id}`);
      if (stored === null) await new Promise((r) => setTimeout(r, 200));
    }
    expect(stored, workerLog).not.toBeNull();
    const result = JSON.parse(stored as string);
    expect([result.status, result.result, result.task_id]).toEqual(['SUCCESS', 5, id]);
  }, 60_000);
});
