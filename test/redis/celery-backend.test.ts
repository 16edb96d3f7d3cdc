/**
 * kelp's Celery result backend against a real server: the backend URL parsed as broker URLs are
 * (valkey:// with a db, rediss:// with a CA), `get({ timeout: 0 })` as one read, and a fractional
 * `resultExpires` that must never become "keep for ever".
 */
import { inspect } from 'node:util';
import { Celery, ResultTimeoutError } from '@kelp/celery';
import { Redis } from 'ioredis';
import { chordPartReturn } from '../../packages/celery/src/chord-join.js';
import { RedisResultBackend } from '../../packages/celery/src/redis-backend.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';
import { freePort, startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { makeTestCertificates, tlsServerArgs, type TestCertificates } from '../faults/support/tls.js';

const meta = (id: string, result: unknown) => JSON.stringify({ status: 'SUCCESS', result, traceback: null, children: [], date_done: '2026-12-07T20:00:00.000000', task_id: id });

let db: FreshDb;
let redis: Redis;

beforeAll(async () => {
  db = await freshDb();
  redis = new Redis(db.url);
});

afterAll(() => {
  redis?.disconnect();
});

describe('the Celery result backend', () => {
  it('reads valkey://host:port/<db> as that db on that host', async () => {
    await redis.set('celery-task-meta-v1', meta('v1', 41));
    const app = new Celery({ broker: 'memory://', backend: `valkey://${db.host}:${db.port}/${db.db}` });
    try {
      expect(await app.AsyncResult('v1').get({ timeout: 5 })).toBe(41);
    } finally {
      await app.close();
    }
  });

  it('get({ timeout: 0 }) returns a stored result and times out at once on a missing one', async () => {
    await redis.set('celery-task-meta-z1', meta('z1', 'done'));
    const app = new Celery({ broker: 'memory://', backend: db.url });
    try {
      expect(await app.AsyncResult('z1').get({ timeout: 0 })).toBe('done');
      await expect(app.AsyncResult('z2').get({ timeout: 0 })).rejects.toBeInstanceOf(ResultTimeoutError);
    } finally {
      await app.close();
    }
  });

  it('stores a result with resultExpires 0.3 for 1 s, never for ever', async () => {
    const app = new Celery({ broker: 'memory://', backend: db.url, resultExpires: 0.3 });
    try {
      await app.resultBackend().store({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: 'e1' });
      const ttl = await redis.pttl('celery-task-meta-e1');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(1_000);
      // The chord join's keys too.
      const meta = { status: 'SUCCESS' as const, result: 1, traceback: null, children: [], date_done: null, task_id: 'e2' };
      const backend = new RedisResultBackend(db.url, { expires: 0.3, serializer: 'json' });
      await chordPartReturn(backend, { taskId: 'e2', groupId: 'g-e', groupIndex: 0, meta }, 'body-e').finally(() => backend.close());
      const joinTtl = await redis.pttl('celery-taskset-meta-g-e.j');
      expect(joinTtl).toBeGreaterThan(0);
      expect(joinTtl).toBeLessThanOrEqual(1_000);
    } finally {
      await app.close();
    }
  });
});

describe('a rediss:// result backend', () => {
  let certs: TestCertificates;
  let server: RedisServerHandle;
  let tlsPort: number;

  beforeAll(async () => {
    certs = makeTestCertificates();
    tlsPort = await freePort();
    server = await startRedisServer({ extraArgs: tlsServerArgs(certs, tlsPort) });
  });

  afterAll(async () => {
    await server?.stop();
    certs?.remove();
  });

  it('stores and reads a result over TLS, verifying the server with the CA from ssl_ca_certs', async () => {
    const ca = encodeURIComponent(certs.caFile);
    const app = new Celery({ broker: 'memory://', backend: `rediss://127.0.0.1:${tlsPort}/2?ssl_ca_certs=${ca}` });
    try {
      await app.resultBackend().store({ status: 'SUCCESS', result: 'over tls', traceback: null, children: [], date_done: null, task_id: 't1' });
      expect(await app.AsyncResult('t1').get({ timeout: 5 })).toBe('over tls');
    } finally {
      await app.close();
    }
  });

  it('refuses a server whose CA it does not know', async () => {
    const errors: Error[] = [];
    const app = new Celery({ broker: 'memory://', backend: `valkeys://127.0.0.1:${tlsPort}/2`, onError: (error) => errors.push(error) });
    try {
      await expect(app.AsyncResult('t1').get({ timeout: 1 })).rejects.toBeInstanceOf(ResultTimeoutError);
      expect(String(errors[0])).toMatch(/certificate/i);
    } finally {
      await app.close();
    }
  });
});

describe('a result backend that refuses the password', () => {
  let server: RedisServerHandle;

  beforeAll(async () => {
    server = await startRedisServer({ extraArgs: ['--requirepass', 'the-right-one'] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('reports the AUTH failure through onError and get() with the password scrubbed', async () => {
    const errors: Error[] = [];
    const url = `redis://kelpuser:wr0ng-s3cret@127.0.0.1:${server.port}/3`;
    const app = new Celery({ broker: 'memory://', backend: url, onError: (error) => errors.push(error) });
    try {
      const error = await app.AsyncResult('a1').get({ timeout: 1 }).catch((e: unknown) => e);
      expect(inspect(error)).toMatch(/WRONGPASS/);
      expect(errors.length).toBeGreaterThan(0);
      expect(inspect(errors, { depth: 10 })).toMatch(/WRONGPASS|NOAUTH|invalid username-password/);
      expect(inspect([error, errors], { depth: 10 })).not.toContain('wr0ng-s3cret');
      expect(JSON.stringify([error, ...errors].map((e) => ({ ...(e as object) })))).not.toContain('wr0ng-s3cret');
      const stored = await app.resultBackend().store({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: 'a1' }).catch((e: unknown) => e);
      expect(inspect(stored)).toMatch(/WRONGPASS/);
      expect(inspect(stored, { depth: 10 })).not.toContain('wr0ng-s3cret');
    } finally {
      await app.close();
    }
  });
});
