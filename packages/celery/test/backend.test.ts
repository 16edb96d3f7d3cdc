import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { ConfigurationError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { Celery } from '../src/app.js';
import { backendTarget } from '../src/backend-url.js';
import { ResultBackendClosedError, ResultTimeoutError } from '../src/errors.js';
import { RedisResultBackend } from '../src/redis-backend.js';

/** A loopback port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('result backend URL', () => {
  it('parses valkey:// with a password and a db as host, port, db and credentials (not a socket path)', () => {
    const target = backendTarget('valkey://:s3cret%2Fpw@db.example:6380/1');
    expect(target.options).toEqual({ db: 1, password: 's3cret/pw', host: 'db.example', port: 6380 });
    expect(target.options.path).toBeUndefined();
    expect(target.redacted).toBe('valkey://:**@db.example:6380/1');
    expect(target.secrets).toContain('s3cret/pw');
  });

  it('turns TLS on for valkeys:// and rediss://, verifying unless ssl_cert_reqs=none', () => {
    expect(backendTarget('valkeys://u:p@h/2').options).toMatchObject({ host: 'h', port: 6379, db: 2, username: 'u', password: 'p', tls: { rejectUnauthorized: true } });
    expect(backendTarget('rediss://h:7000?ssl_cert_reqs=none').options.tls).toEqual({ rejectUnauthorized: false });
    expect(backendTarget('redis://h').options.tls).toBeUndefined();
    expect(backendTarget('redis+socket:///tmp/r.sock?virtual_host=3').options).toEqual({ db: 3, path: '/tmp/r.sock' });
  });

  it('refuses other schemes, failover lists and unknown query keys, the password redacted', () => {
    expect(() => new Celery({ broker: 'memory://', backend: 'sentinel://:pw1@h:26379' })).toThrow(ConfigurationError);
    const errors: unknown[] = [];
    for (const url of ['redis://:pw1@h;redis://:pw1@g', 'redis://:pw1@h/0?visibilty_timeout=3', 'redis://:pw1@h/x']) {
      try {
        new Celery({ broker: 'memory://', backend: url });
      } catch (error) {
        errors.push(error);
      }
    }
    expect(errors).toHaveLength(3);
    for (const error of errors) {
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(inspect(error)).not.toContain('pw1');
    }
  });

  it('keeps the password out of stderr and errors when the backend is unreachable, and get() times out', async () => {
    const port = await closedPort();
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      written.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stderr.write;
    const reported: Error[] = [];
    const app = new Celery({ broker: 'memory://', backend: `valkey://:s3cretpw@127.0.0.1:${port}/1`, onError: (error) => reported.push(error) });
    try {
      const started = Date.now();
      const error = await app.AsyncResult('some-task').get({ timeout: 0.5 }).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(error).toBeInstanceOf(ResultTimeoutError);
      expect(inspect(error, { depth: 10 })).not.toContain('s3cretpw');
      expect((error as Error).message).toContain(`valkey://:**@127.0.0.1:${port}/1`);
      // The connection was refused by 127.0.0.1 at that port: the URL was parsed as host and port.
      expect(reported.length).toBeGreaterThan(0);
      expect(String(reported[0])).toContain('ECONNREFUSED');
      expect(inspect(reported, { depth: 10 })).not.toContain('s3cretpw');
      // One read, no wait, and the backend down: a timeout at once, not a wait for the connection.
      const zero = Date.now();
      await expect(app.AsyncResult('some-task').get({ timeout: 0 })).rejects.toBeInstanceOf(ResultTimeoutError);
      expect(Date.now() - zero).toBeLessThan(2_000);
      expect(app.backendUrl).toBe(`valkey://:**@127.0.0.1:${port}/1`);
    } finally {
      await app.close();
      process.stderr.write = write;
    }
    expect(written.join('')).not.toContain('s3cretpw');
    expect(written.join('')).not.toContain('[ioredis]');
  });

  it('rejects every waiter on close with ResultBackendClosedError, and keeps no abort listener', async () => {
    const port = await closedPort();
    const backend = new RedisResultBackend(`redis://127.0.0.1:${port}`, { expires: 60, serializer: 'json', onError: () => undefined });
    const controller = new AbortController();
    let listeners = 0;
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((...args: Parameters<typeof add>) => ((listeners += 1), add(...args))) as typeof add;
    controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => ((listeners -= 1), remove(...args))) as typeof remove;
    const waits = [backend.waitFor('a', { signal: controller.signal }), backend.waitFor('a'), backend.waitFor('b', { timeout: 100 })].map((p) => p.catch((e: unknown) => e));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await backend.close();
    const outcomes = await Promise.race([Promise.all(waits), new Promise((resolve) => setTimeout(() => resolve('unsettled'), 1_000))]);
    expect(outcomes).not.toBe('unsettled');
    for (const outcome of outcomes as unknown[]) expect(outcome).toBeInstanceOf(ResultBackendClosedError);
    expect(listeners).toBe(0);
    await expect(backend.waitFor('c')).rejects.toBeInstanceOf(ResultBackendClosedError);
  });
});

describe('the broker URL', () => {
  it('is shown without its password, on the app and in its inspection', async () => {
    const app = new Celery({ broker: 'redis://:s3cretpw@127.0.0.1:1/0' });
    try {
      expect(app.broker).toBe('redis://:**@127.0.0.1:1/0');
      expect(inspect(app, { depth: 5 })).not.toContain('s3cretpw');
    } finally {
      await app.close();
    }
  });
});
