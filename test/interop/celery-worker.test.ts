/**
 * Python -> Node: Python Celery 5.2.6 sends tasks with `send_task` / `.delay()` and a kelp worker
 * runs them; Python's `AsyncResult.get()` returns the value or raises the matching exception. The
 * result payloads the kelp worker stores are compared field by field with a Python worker's.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, type CeleryWorker, type TaskContext } from 'kelp';
import { freshDb } from '../setup/fresh-db.js';
import { pythonClient, startPythonWorker, type CeleryEnv, type PythonWorker } from './celery-support.js';

interface Outcome {
  id: string;
  ok?: unknown;
  state: string;
  error?: { type: string; module: string; args: string[] };
  traceback?: string | null;
}

let env: CeleryEnv;
let app: Celery;
let worker: CeleryWorker;
let backend: Redis;
let pyWorker: PythonWorker | undefined;
const errors: unknown[] = [];
const runs = new Map<string, number>();

const call = (name: string, args: unknown[] = [], options: Record<string, unknown> = {}, kwargs: Record<string, unknown> = {}) =>
  pythonClient<Outcome>(env, 'call', { name, args, kwargs, options: { queue: 'py-to-node', ...options }, timeout: 30 });

beforeAll(async () => {
  const [brokerDb, backendDb] = [await freshDb(), await freshDb()];
  env = { broker: brokerDb.url, backend: backendDb.url };
  backend = new Redis(backendDb.url);
  app = new Celery({ broker: env.broker, backend: env.backend });
  worker = app.worker({
    queues: ['py-to-node'],
    concurrency: 2,
    onError: (error) => errors.push(error),
    tasks: {
      'tasks.add': (x: number, y: number) => x + y,
      'tasks.fail': (message: string) => {
        throw Object.assign(new Error(message), { excType: 'ValueError' });
      },
      'tasks.nothing': () => undefined,
      'tasks.circular': () => {
        const value: Record<string, unknown> = {};
        value['self'] = value;
        return value;
      },
      'tasks.jsfail': () => {
        throw new TypeError('not a number');
      },
      'tasks.flaky': (succeedAfter: number, ctx: TaskContext) => {
        runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
        return ctx.retries < succeedAfter ? ctx.retry({ countdown: 1, exc: new Error('not yet') }) : ctx.retries;
      },
      'tasks.giveup': (ctx: TaskContext) => ctx.retry({ countdown: 0.1, maxRetries: 1, exc: Object.assign(new Error('gave up'), { excType: 'RuntimeError' }) }),
      'tasks.echo': (...argsThenContext: unknown[]) => {
        const ctx = argsThenContext.pop() as TaskContext;
        return {
          args: argsThenContext,
          kwargs: ctx.kwargs,
          id: ctx.id,
          eta: ctx.eta?.toISOString() ?? null,
          retries: ctx.retries,
          routingKey: ctx.deliveryInfo.routingKey,
          origin: ctx.headers['origin'],
          ranAt: Date.now(),
        };
      },
      'tasks.counted': (ctx: TaskContext) => runs.set(ctx.id, 1),
      'tasks.badretry': (countdown: unknown, ctx: TaskContext) => ctx.retry(countdown === null ? ({ countdow: 5 } as never) : { countdown: countdown as number }),
      'tasks.sleep': { run: (seconds: number) => new Promise((r) => setTimeout(() => r(seconds), seconds * 1000)), timeLimit: 0.5 },
      'tasks.soft': {
        softTimeLimit: 0.2,
        run: (ctx: TaskContext) =>
          new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true })),
      },
    },
  });
  await worker.start();
});

afterAll(async () => {
  await pyWorker?.stop();
  await worker?.stop();
  await app?.close();
  backend?.disconnect();
});

describe('Python client -> Node worker', () => {
  it("runs tasks.add and Python's AsyncResult.get() returns the sum", async () => {
    const outcome = await call('tasks.add', [2, 3]);
    expect([outcome.ok, outcome.state]).toEqual([5, 'SUCCESS']);
  });

  it('passes args, kwargs and the task context (id, retries, delivery info, headers)', async () => {
    const outcome = await call('tasks.echo', [1, 'two'], {}, { k: [3] });
    const value = outcome.ok as Record<string, unknown>;
    expect([value['args'], value['kwargs'], value['id'], value['retries'], value['routingKey']]).toEqual([[1, 'two'], { k: [3] }, outcome.id, 0, 'py-to-node']);
    expect(value['origin']).toMatch(/^gen\d+@/);
  });

  it('a thrown error with excType raises that Python class; a TypeError stays a builtins.TypeError', async () => {
    const failed = await call('tasks.fail', ['boom']);
    expect([failed.state, failed.error]).toEqual(['FAILURE', { type: 'ValueError', module: 'builtins', args: ['boom'] }]);
    expect(failed.traceback).toContain('Error: boom');
    const typeError = await call('tasks.jsfail');
    expect(typeError.error).toEqual({ type: 'TypeError', module: 'builtins', args: ['not a number'] });
  });

  it('a function returning nothing stores None; a result json cannot encode fails the task with EncodeError', async () => {
    const nothing = await call('tasks.nothing');
    expect([nothing.state, nothing.ok]).toEqual(['SUCCESS', null]);
    const circular = await call('tasks.circular');
    expect([circular.state, circular.error?.type, circular.error?.module]).toEqual(['FAILURE', 'EncodeError', 'kombu.exceptions']);
  });

  it('an unknown task name is rejected and stored as NotRegistered; the worker goes on', async () => {
    const outcome = await call('tasks.nobody');
    expect([outcome.state, outcome.error?.type, outcome.error?.module, outcome.error?.args]).toEqual(['FAILURE', 'NotRegistered', 'celery.exceptions', ['tasks.nobody']]);
    expect((await call('tasks.add', [1, 1])).ok).toBe(2);
  });

  it('retry({ countdown }) sends the task again with retries + 1 until it succeeds', async () => {
    const started = Date.now();
    const outcome = await call('tasks.flaky', [2]);
    expect(outcome.ok).toBe(2);
    expect(runs.get(outcome.id)).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  it('past maxRetries the exc given to retry() is what fails the task', async () => {
    const outcome = await call('tasks.giveup');
    expect([outcome.state, outcome.error?.type, outcome.error?.args]).toEqual(['FAILURE', 'RuntimeError', ['gave up']]);
  });

  it('retry() with a misspelt or invalid option fails the task with a did-you-mean instead of retrying in 180 s', async () => {
    const misspelt = await call('tasks.badretry', [null]);
    expect([misspelt.state, misspelt.error?.type]).toEqual(['FAILURE', 'ConfigurationError']);
    expect(misspelt.error?.args.join(' ')).toMatch(/did you mean `countdown`/);
    const negative = await call('tasks.badretry', [-5]);
    expect([negative.state, negative.error?.type]).toEqual(['FAILURE', 'ConfigurationError']);
  });

  it('holds a countdown task until its eta', async () => {
    const sent = Date.now();
    const outcome = await call('tasks.echo', [], { countdown: 1.5 });
    const value = outcome.ok as { eta: string; ranAt: number };
    expect(Date.parse(value.eta) - sent).toBeGreaterThanOrEqual(1400);
    expect(value.ranAt).toBeGreaterThanOrEqual(Date.parse(value.eta));
  });

  it('runs a task Python sent with msgpack', async () => {
    const outcome = await call('tasks.add', [20, 22], { serializer: 'msgpack' });
    expect([outcome.ok, outcome.state]).toEqual([42, 'SUCCESS']);
  });

  it('stores and reads msgpack results (resultSerializer) and keeps the first SUCCESS of a task stored twice', async () => {
    const mp = new Celery({ broker: env.broker, backend: env.backend, resultSerializer: 'msgpack', defaultQueue: 'mp-q' });
    const mpWorker = mp.worker({ tasks: { 'tasks.echo': (value: unknown) => value } });
    await mpWorker.start();
    try {
      const result = await mp.sendTask('tasks.echo', [{ nested: [1, 'two', null] }]);
      expect(await result.get({ timeout: 10 })).toEqual({ nested: [1, 'two', null] });
      const raw = (await backend.getBuffer(`celery-task-meta-${result.id}`)) as Buffer;
      expect(raw[0]! & 0xf0).toBe(0x80); // a msgpack fixmap, not JSON
      // The same task id run again (a redelivery) does not replace the stored success.
      await mp.sendTask('tasks.echo', ['second run'], {}, { taskId: result.id });
      await new Promise((r) => setTimeout(r, 500));
      expect(await mp.AsyncResult(result.id).get({ timeout: 1 })).toEqual({ nested: [1, 'two', null] });
    } finally {
      await mpWorker.stop();
      await mp.close();
    }
  });

  it('stopping a worker that holds an ETA task gives the task back to the queue', async () => {
    const holder = app.worker({ queues: ['eta-q'], tasks: { 'tasks.add': (x: number, y: number) => x + y } });
    await holder.start();
    const broker = new Redis(env.broker);
    try {
      const { id } = await pythonClient<{ id: string }>(env, 'send', { name: 'tasks.add', args: [1, 2], options: { queue: 'eta-q', countdown: 60 } });
      const deadline = Date.now() + 10_000;
      while ((await broker.hlen('unacked')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await broker.llen('eta-q')).toBe(0); // held by the worker, unacked
      await holder.stop();
      const back = await broker.lrange('eta-q', 0, -1);
      expect(back.map((raw) => (JSON.parse(raw) as { headers: { id: string } }).headers.id)).toEqual([id]);
      expect(await broker.hexists('unacked', (JSON.parse(back[0] as string) as { properties: { delivery_tag: string } }).properties.delivery_tag)).toBe(0);
    } finally {
      broker.disconnect();
    }
  });

  it('an expired task is stored as REVOKED, as a Celery worker does', async () => {
    const outcome = await call('tasks.add', [1, 2], { expires: -1 });
    expect([outcome.state, outcome.error?.type, outcome.error?.args]).toEqual(['REVOKED', 'TaskRevokedError', ['expired']]);
  });

  it('an ETA task whose expires passes before its eta is stored as REVOKED (expired) and not run, as Celery 5.2', async () => {
    const before = runs.size;
    const sent = Date.now();
    const outcome = await call('tasks.counted', [], { countdown: 2, expires: 1 });
    expect([outcome.state, outcome.error?.type, outcome.error?.args]).toEqual(['REVOKED', 'TaskRevokedError', ['expired']]);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(1_900); // revoked when its eta came, not on receipt
    expect(runs.size).toBe(before);
  });

  it('holds a task with an eta 30 days ahead (past the 2^31-1 ms timer limit) instead of running it at once', async () => {
    const holder = app.worker({ queues: ['far-eta-q'], tasks: { 'tasks.counted': (ctx: TaskContext) => runs.set(ctx.id, 1) } });
    await holder.start();
    const broker = new Redis(env.broker);
    try {
      const { id } = await pythonClient<{ id: string }>(env, 'send', { name: 'tasks.counted', args: [], options: { queue: 'far-eta-q', countdown: 30 * 86_400 } });
      const deadline = Date.now() + 10_000;
      while ((await broker.hlen('unacked')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      expect(runs.has(id)).toBe(false);
      expect(await backend.exists(`celery-task-meta-${id}`)).toBe(0);
    } finally {
      await holder.stop();
      broker.disconnect();
    }
  });

  it('the hard time limit fails the task with TimeLimitExceeded, the soft one aborts ctx.signal', async () => {
    const hard = await call('tasks.sleep', [3]);
    expect([hard.state, hard.error?.type, hard.error?.module]).toEqual(['FAILURE', 'TimeLimitExceeded', 'billiard.exceptions']);
    const soft = await call('tasks.soft');
    expect([soft.state, soft.error?.type]).toEqual(['FAILURE', 'SoftTimeLimitExceeded']);
  });

  it('stores the same result payload as a Python worker, field by field', async () => {
    const node = await call('tasks.add', [4, 5]);
    pyWorker = await startPythonWorker(env, ['py-worker']);
    const py = await call('tasks.add', [4, 5], { queue: 'py-worker' });
    const read = async (id: string) => JSON.parse((await backend.get(`celery-task-meta-${id}`)) as string) as Record<string, unknown>;
    const [nodeMeta, pyMeta] = [await read(node.id), await read(py.id)];
    expect(Object.keys(nodeMeta)).toEqual(Object.keys(pyMeta));
    expect([nodeMeta['status'], nodeMeta['result'], nodeMeta['traceback'], nodeMeta['children']]).toEqual([pyMeta['status'], pyMeta['result'], pyMeta['traceback'], pyMeta['children']]);
    expect(nodeMeta['date_done']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/);
    expect(pyMeta['date_done']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/);
    const ttl = await backend.ttl(`celery-task-meta-${node.id}`);
    expect(ttl).toBeGreaterThan(86_000);
    expect(ttl).toBeLessThanOrEqual(86_400);
    // The raw text too: the same separators as Python's json.dumps.
    const raw = (await backend.get(`celery-task-meta-${node.id}`)) as string;
    expect(raw.startsWith('{"status": "SUCCESS", "result": 9, "traceback": null, "children": [], "date_done": "')).toBe(true);

    // A failure too: the same keys, the exception dict in the same shape.
    const nodeFail = await read((await call('tasks.fail', ['boom'])).id);
    const pyFail = await read((await call('tasks.fail', ['boom'], { queue: 'py-worker' })).id);
    expect(Object.keys(nodeFail)).toEqual(Object.keys(pyFail));
    expect([nodeFail['status'], nodeFail['result']]).toEqual([pyFail['status'], pyFail['result']]);
    expect(pyFail['result']).toEqual({ exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' });
    expect(typeof nodeFail['traceback']).toBe('string');
    expect(errors).toEqual([]);
  });
});
