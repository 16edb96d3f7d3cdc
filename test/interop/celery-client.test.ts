/**
 * Node -> Python: kelp's Celery client sends tasks that a real Celery 5.2.6 worker runs, and reads
 * the results; the task messages kelp writes are compared field by field with Python's.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, CeleryTaskError, Connection, ResultTimeoutError, TaskRevokedError } from 'kelp';
import { freshDb } from '../setup/fresh-db.js';
import { pythonClient, startPythonWorker, type CeleryEnv, type PythonWorker } from './celery-support.js';

const SEP = '\x06\x16';
let env: CeleryEnv;
let app: Celery;
let broker: Redis;
let backend: Redis;
let worker: PythonWorker;

beforeAll(async () => {
  const [brokerDb, backendDb] = [await freshDb(), await freshDb()];
  env = { broker: brokerDb.url, backend: backendDb.url };
  broker = new Redis(brokerDb.url);
  backend = new Redis(backendDb.url);
  app = new Celery({ broker: env.broker, backend: env.backend, defaultQueue: 'node-to-py', routes: { 'tasks.routed.*': { queue: 'node-to-py-routed' } } });
  worker = await startPythonWorker(env, ['node-to-py', 'node-to-py-routed']);
});

afterAll(async () => {
  await worker?.stop();
  await app?.close();
  broker?.disconnect();
  backend?.disconnect();
});

async function envelopeOn(list: string): Promise<Record<string, unknown>> {
  const raw = await broker.lindex(list, 0);
  expect(raw, `nothing on ${JSON.stringify(list)}`).not.toBeNull();
  return JSON.parse(raw as string) as Record<string, unknown>;
}

describe('the task message', () => {
  it('is what Celery 5.2 writes, field by field, for the same call', async () => {
    const options = { countdown: 10, expires: 60, priority: 3, retries: 2, timeLimit: 5, softTimeLimit: 3, headers: { x: 1 } };
    await app.sendTask('tasks.echo', [2, 'three', null, true, 1.5], { z: 'a', 'é': [1, { k: "it's" }] }, { ...options, queue: 'wire-node' });
    await pythonClient(env, 'send', {
      name: 'tasks.echo',
      args: [2, 'three', null, true, 1.5],
      kwargs: { z: 'a', 'é': [1, { k: "it's" }] },
      options: { countdown: 10, expires: 60, priority: 3, retries: 2, time_limit: 5, soft_time_limit: 3, headers: { x: 1 }, queue: 'wire-py' },
    });
    // Priority 3 lands on the `<queue>\x06\x163` list, as Kombu's priority steps put it.
    const node = await envelopeOn(`wire-node${SEP}3`);
    const py = await envelopeOn(`wire-py${SEP}3`);
    expect(Object.keys(node)).toEqual(Object.keys(py));
    expect(node['body']).toBe(py['body']); // the same bytes: [args, kwargs, embed] as json.dumps writes it
    expect([node['content-type'], node['content-encoding']]).toEqual([py['content-type'], py['content-encoding']]);

    const nh = node['headers'] as Record<string, unknown>;
    const ph = py['headers'] as Record<string, unknown>;
    expect(Object.keys(nh)).toEqual(Object.keys(ph));
    const differ = new Set(['id', 'root_id', 'origin', 'lang', 'eta', 'expires']);
    for (const key of Object.keys(ph).filter((k) => !differ.has(k))) expect([key, nh[key]]).toEqual([key, ph[key]]);
    expect([nh['lang'], ph['lang']]).toEqual(['js', 'py']);
    expect(nh['root_id']).toBe(nh['id']);
    expect(nh['origin']).toMatch(/^node\d+@/);
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/;
    for (const key of ['eta', 'expires']) {
      expect(nh[key]).toMatch(iso);
      expect(Math.abs(Date.parse(nh[key] as string) - Date.parse(ph[key] as string))).toBeLessThan(10_000);
    }

    const np = node['properties'] as Record<string, unknown>;
    const pp = py['properties'] as Record<string, unknown>;
    // Only `expiration` is left out: kelp's transport would drop the task once due, before a worker
    // could store the REVOKED state that Celery's `expires` header asks for.
    expect(Object.keys(np).sort()).toEqual(Object.keys(pp).filter((k) => k !== 'expiration').sort());
    expect(pp['expiration']).toBe('60000');
    expect(np['correlation_id']).toBe(nh['id']);
    for (const key of ['delivery_mode', 'priority', 'body_encoding']) expect([key, np[key]]).toEqual([key, pp[key]]);
    expect(np['delivery_info']).toEqual({ exchange: '', routing_key: 'wire-node' });
    expect(pp['delivery_info']).toEqual({ exchange: '', routing_key: 'wire-py' });
    expect(typeof np['reply_to']).toBe('string');

    // Both declare the queue the same way: exchange = routing key = queue name.
    expect(await broker.smembers('_kombu.binding.wire-node')).toEqual([`wire-node${SEP}${SEP}wire-node`]);
    expect(await broker.smembers('_kombu.binding.wire-py')).toEqual([`wire-py${SEP}${SEP}wire-py`]);
  });

  it('writes argsrepr and kwargsrepr as Python reprs', async () => {
    await app.sendTask('tasks.echo', ['x'], {}, { queue: 'wire-repr' });
    const headers = (await envelopeOn('wire-repr'))['headers'] as Record<string, unknown>;
    expect([headers['argsrepr'], headers['kwargsrepr'], headers['eta'], headers['expires'], headers['timelimit']]).toEqual(["('x',)", '{}', null, null, [null, null]]);
  });
});

describe('Node client -> Python worker', () => {
  it('adds: delay() resolves to the value the worker stored', async () => {
    const add = app.task<[number, number], number>('tasks.add');
    const result = await add.delay(2, 3);
    expect(await result.get({ timeout: 30 })).toBe(5);
    expect([await result.state, await result.ready(), await result.successful()]).toEqual(['SUCCESS', true, true]);
    const stored = JSON.parse((await backend.get(`celery-task-meta-${result.id}`)) as string) as Record<string, unknown>;
    expect([stored['status'], stored['result'], stored['task_id']]).toEqual(['SUCCESS', 5, result.id]);
  });

  it('a Python exception comes back as a CeleryTaskError with its type, message and traceback', async () => {
    const result = await app.sendTask('tasks.fail', ['boom']);
    const error = await result.get({ timeout: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CeleryTaskError);
    const failure = error as CeleryTaskError;
    expect([failure.excType, failure.exc_type, failure.excModule, failure.excMessage, failure.taskId]).toEqual(['ValueError', 'ValueError', 'builtins', ['boom'], result.id]);
    expect(failure.traceback).toContain('raise ValueError(message)');
    expect(await result.state).toBe('FAILURE');
  });

  it('a task that retries with a countdown succeeds on its third run', async () => {
    const started = Date.now();
    const result = await app.sendTask('tasks.flaky', [2]);
    expect(await result.get({ timeout: 30 })).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1800); // two retries, one second each
  });

  it('countdown and eta: the worker runs the task no earlier than the eta header says', async () => {
    const sent = Date.now();
    const result = await app.sendTask<{ eta: string; ran_at: number }>('tasks.echo', [], {}, { countdown: 2 });
    const value = await result.get({ timeout: 30 });
    expect(Date.parse(value.eta) - sent).toBeGreaterThanOrEqual(1900);
    expect(value.ran_at * 1000).toBeGreaterThanOrEqual(Date.parse(value.eta));
    const at = new Date(Date.now() + 1500);
    const viaEta = await app.sendTask<{ eta: string; ran_at: number }>('tasks.echo', [], {}, { eta: at });
    const echoed = await viaEta.get({ timeout: 30 });
    expect(Math.abs(Date.parse(echoed.eta) - at.getTime())).toBeLessThan(2);
    expect(echoed.ran_at * 1000).toBeGreaterThanOrEqual(at.getTime());
  });

  it("etaDelivery 'broker': the task waits in kelp's delayed set until a kelp hub moves it, then the Python worker runs it, not early", async () => {
    const held = new Celery({ broker: env.broker, backend: env.backend, defaultQueue: 'node-to-py', etaDelivery: 'broker' });
    const mover = new Connection(env.broker);
    try {
      const sent = Date.now();
      const result = await held.sendTask<{ eta: string; ran_at: number }>('tasks.echo', [], {}, { countdown: 1 });
      const where = async () => [await broker.llen('node-to-py'), await broker.zcard('_kelp.delayed.node-to-py')];
      expect(await where()).toEqual([0, 1]);
      // Due, but no kelp process runs a hub: the Python worker cannot see it.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await where()).toEqual([0, 1]);
      // Any kelp process with a channel open and its hub running moves it.
      await mover.channel();
      mover.registerWithEventLoop(mover.hub);
      const ran = result.get({ timeout: 30 });
      await mover.hub.runUntil(() => false, { timeoutMs: 1500 }).catch(() => undefined);
      const value = await ran;
      expect(Date.parse(value.eta) - sent).toBeGreaterThanOrEqual(900);
      expect(value.ran_at * 1000).toBeGreaterThanOrEqual(Date.parse(value.eta));
      expect(await where()).toEqual([0, 0]);
    } finally {
      await held.close();
      await mover.close();
    }
  });

  it('an expired task is not run: the worker stores REVOKED and get() throws TaskRevokedError', async () => {
    const result = await app.sendTask('tasks.add', [1, 1], {}, { expires: new Date(Date.now() - 1000) });
    const error = await result.get({ timeout: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskRevokedError);
    expect([(error as TaskRevokedError).excType, (error as TaskRevokedError).excMessage]).toEqual(['TaskRevokedError', ['expired']]);
  });

  it('revoke() reaches the Python worker through celery.pidbox: an ETA task is then skipped as REVOKED', async () => {
    const result = await app.sendTask('tasks.add', [1, 2], {}, { countdown: 3 });
    await new Promise((r) => setTimeout(r, 500)); // the worker holds it, waiting for the eta
    await result.revoke();
    const error = await result.get({ timeout: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskRevokedError);
    expect((error as TaskRevokedError).excMessage).toEqual(['revoked']);
  });

  it('kwargs, priority, timeLimit, msgpack and routes reach the worker', async () => {
    const result = await app.sendTask<Record<string, unknown>>('tasks.echo', [1], { k: 'v' }, { priority: 5, timeLimit: 9, softTimeLimit: 8, serializer: 'msgpack' });
    const value = await result.get({ timeout: 30 });
    expect([value['args'], value['kwargs'], value['priority'], value['time_limit'], value['routing_key']]).toEqual([[1], { k: 'v' }, 5, [9, 8], 'node-to-py']);
    const routed = await app.sendTask<Record<string, unknown>>('tasks.routed.echo', [], {}, { headers: {} });
    // No Python task has that name, so the worker stores NotRegistered: it was delivered on the routed queue.
    const error = (await routed.get({ timeout: 30 }).catch((e: unknown) => e)) as CeleryTaskError;
    expect([error.excType, error.excModule, error.excMessage]).toEqual(['NotRegistered', 'celery.exceptions', ['tasks.routed.echo']]);
  });

  it('get() waits for a result stored later, without polling, and times out with ResultTimeoutError', async () => {
    const pending = app.AsyncResult('never-sent');
    await expect(pending.get({ timeout: 0.3 })).rejects.toBeInstanceOf(ResultTimeoutError);
    expect(await pending.state).toBe('PENDING');
    const late = app.AsyncResult('stored-later');
    const waiting = late.get({ timeout: 10 });
    await new Promise((r) => setTimeout(r, 200));
    await backend.set('celery-task-meta-stored-later', JSON.stringify({ status: 'SUCCESS', result: 42, traceback: null, children: [], date_done: null, task_id: 'stored-later' }));
    await backend.publish('celery-task-meta-stored-later', JSON.stringify({ status: 'SUCCESS', result: 42, traceback: null, children: [], date_done: null, task_id: 'stored-later' }));
    expect(await waiting).toBe(42);
  });

  it('get() honours its AbortSignal, and forget() deletes the stored result', async () => {
    const controller = new AbortController();
    const waiting = app.AsyncResult('aborted').get({ signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortedError' });
    const result = await app.task<[number, number], number>('tasks.add').delay(20, 22);
    expect(await result.get({ timeout: 30 })).toBe(42);
    await result.forget();
    expect(await backend.exists(`celery-task-meta-${result.id}`)).toBe(0);
  });
});
