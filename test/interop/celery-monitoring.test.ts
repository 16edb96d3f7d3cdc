/**
 * A kelp worker seen by Celery's tools: `celery inspect ping` and `app.control.inspect().active()`
 * answer for it through `celery.pidbox`, a Python revoke reaches it, and Celery's event Receiver
 * (what `celery events` and Flower use) sees its worker-online / heartbeat and task events, and the
 * client's task-sent.
 */
import { execFile } from 'node:child_process';
import { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, type CeleryWorker, type TaskContext } from 'kelp';
import { freshDb } from '../setup/fresh-db.js';
import { PYTHON, pythonClient, requireCelery, type CeleryEnv } from './celery-support.js';

const HOSTNAME = `kelp-node-${process.pid}@test`;
let env: CeleryEnv;
let app: Celery;
let worker: CeleryWorker;
/** A plain client on the broker's server, to see subscriptions. */
let probe: Redis;

beforeAll(async () => {
  requireCelery();
  const [brokerDb, backendDb] = [await freshDb(), await freshDb()];
  env = { broker: brokerDb.url, backend: backendDb.url };
  probe = new Redis(brokerDb.url);
  app = new Celery({ broker: env.broker, backend: env.backend, defaultQueue: 'monitored', sendSentEvent: true });
  worker = app.worker({
    hostname: HOSTNAME,
    events: true,
    heartbeatInterval: 0.5,
    concurrency: 2,
    tasks: {
      'tasks.add': (x: number, y: number) => x + y,
      'tasks.fail': (message: string) => {
        throw Object.assign(new Error(message), { excType: 'ValueError' });
      },
      'tasks.sleep': (seconds: number) => new Promise((r) => setTimeout(() => r(seconds), seconds * 1000)),
      'tasks.wait': (ctx: TaskContext) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => resolve('finished'), 20_000);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(ctx.signal.reason as Error);
          }, { once: true });
        }),
    },
  });
  await worker.start();
});

afterAll(async () => {
  await worker?.stop();
  await app?.close();
  probe?.disconnect();
});

describe('remote control', () => {
  it('`celery inspect ping` answers pong for the kelp worker', async () => {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(PYTHON, ['-m', 'celery', '-A', 'celery_app', 'inspect', 'ping', '-d', HOSTNAME, '--timeout', '5'], {
        cwd: fileURLToPath(new URL('.', import.meta.url)),
        env: { ...process.env, KELP_BROKER: env.broker, KELP_BACKEND: env.backend },
      }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${out}\n${err}`)) : resolve(out)));
    });
    expect(stdout).toContain(HOSTNAME);
    expect(stdout).toContain('pong');
  });

  it('inspect active lists the task the worker is running', async () => {
    const result = await app.sendTask('tasks.sleep', [2]);
    await new Promise((r) => setTimeout(r, 500));
    const active = await pythonClient<Record<string, Array<{ id: string; name: string; args: unknown[] }>>>(env, 'inspect', { destination: [HOSTNAME], method: 'active' });
    expect(active[HOSTNAME]?.map((t) => [t.id, t.name, t.args])).toEqual([[result.id, 'tasks.sleep', [2]]]);
    expect(await result.get({ timeout: 10 })).toBe(2);
  });

  it('a revoke broadcast from Python makes the worker skip the task and store REVOKED', async () => {
    const result = await app.sendTask('tasks.add', [1, 2], {}, { countdown: 2 });
    await pythonClient(env, 'revoke', { id: result.id });
    const error = await result.get({ timeout: 10 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TaskRevokedError', excType: 'TaskRevokedError', excMessage: ['revoked'] });
  });

  it('revoke with terminate from Python aborts the running task, stored as REVOKED terminated', async () => {
    const result = await app.sendTask('tasks.wait');
    await new Promise((r) => setTimeout(r, 500)); // running by now
    const started = Date.now();
    await pythonClient(env, 'revoke', { id: result.id, terminate: true });
    const error = await result.get({ timeout: 10 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TaskRevokedError', excType: 'TaskRevokedError', excMessage: ['terminated'] });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('events', () => {
  it("Celery's event receiver sees the worker's heartbeats and the task events of its tasks", async () => {
    // The receiver's pattern subscription, counted on the server: a cold Python process on a busy
    // machine can take seconds to import Celery, and events sent before it subscribed are gone.
    // Clients of this db holding pattern subscriptions (other test files share the server).
    const db = new URL(env.broker).pathname.slice(1);
    const patterns = async () =>
      String(await probe.call('CLIENT', 'LIST')).split('\n').filter((l) => l.includes(` db=${db} `) && /\bpsub=[1-9]/.test(l)).length;
    const before = await patterns();
    const capture = pythonClient<Array<Record<string, unknown>>>(env, 'events', { seconds: 8 });
    const deadline = Date.now() + 20_000;
    while ((await patterns()) <= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await patterns()).toBeGreaterThan(before);
    const ok = await app.sendTask('tasks.add', [2, 3]);
    const failed = await app.sendTask('tasks.fail', ['boom']);
    await ok.get({ timeout: 10 });
    await failed.get({ timeout: 10 }).catch(() => undefined);
    const events = await capture;
    const mine = events.filter((e) => e['hostname'] === HOSTNAME);
    expect(mine.some((e) => e['type'] === 'worker-heartbeat' && e['sw_ident'] === 'kelp' && typeof e['freq'] === 'number')).toBe(true);
    const typesOf = (id: string) => mine.filter((e) => e['uuid'] === id).map((e) => e['type']);
    expect(typesOf(ok.id)).toEqual(['task-received', 'task-started', 'task-succeeded']);
    expect(typesOf(failed.id)).toEqual(['task-received', 'task-started', 'task-failed']);
    const received = mine.find((e) => e['uuid'] === ok.id && e['type'] === 'task-received');
    expect([received?.['name'], received?.['args'], received?.['kwargs']]).toEqual(['tasks.add', '(2, 3)', '{}']);
    expect(mine.find((e) => e['uuid'] === ok.id && e['type'] === 'task-succeeded')?.['result']).toBe('5');
    expect(mine.find((e) => e['uuid'] === failed.id && e['type'] === 'task-failed')?.['exception']).toBe("ValueError('boom')");
    // The client's task-sent (sendSentEvent, Celery's task_send_sent_event), from its origin.
    const sent = events.find((e) => e['uuid'] === ok.id && e['type'] === 'task-sent');
    expect([sent?.['hostname'], sent?.['name'], sent?.['args'], sent?.['queue'], sent?.['routing_key']]).toEqual([app.origin, 'tasks.add', '(2, 3)', 'monitored', 'monitored']);
  });
});
