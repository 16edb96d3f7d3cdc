/**
 * Canvas across languages: chains, groups and chords sent from Node or from Python run with some
 * steps on a kelp worker (queue `node-q`) and some on a Celery 5.2.6 worker (queue `py-q`); chords
 * join through Celery's Redis keys (`celery-taskset-meta-<group>.j` / `.s`), whichever side
 * finishes the header.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, CeleryTaskError, chain, chord, group, type CeleryWorker } from 'kelp';
import { freshDb } from '../setup/fresh-db.js';
import { pythonClient, startPythonWorker, type CeleryEnv, type PythonWorker } from './celery-support.js';

interface Outcome {
  ok?: unknown;
  state: string;
  error?: { type: string; module: string; args: string[] };
  id?: string;
}

let env: CeleryEnv;
let app: Celery;
let worker: CeleryWorker;
let pyWorker: PythonWorker;
let backend: Redis;

beforeAll(async () => {
  const [brokerDb, backendDb] = [await freshDb(), await freshDb()];
  env = { broker: brokerDb.url, backend: backendDb.url };
  backend = new Redis(backendDb.url);
  app = new Celery({ broker: env.broker, backend: env.backend });
  worker = app.worker({
    queues: ['node-q'],
    concurrency: 2,
    tasks: {
      'tasks.add': (x: number, y: number) => x + y,
      'tasks.sum': (values: number[]) => values.reduce((a, b) => a + b, 0),
      'tasks.fail': (message: string) => {
        throw Object.assign(new Error(message), { excType: 'ValueError' });
      },
    },
  });
  await worker.start();
  pyWorker = await startPythonWorker(env, ['py-q']);
});

afterAll(async () => {
  await pyWorker?.stop();
  await worker?.stop();
  await app?.close();
  backend?.disconnect();
});

const add = (queue: string, ...args: number[]) => app.signature<number>('tasks.add', args, {}, { queue });
const node = (name: string, args: unknown[] = [], immutable = false) => ({ name, args, queue: 'node-q', immutable });
const py = (name: string, args: unknown[] = [], immutable = false) => ({ name, args, queue: 'py-q', immutable });

describe('canvas sent from Node', () => {
  it('a chain runs its steps in turn on Node and Python workers, each result passed on', async () => {
    const fixed = app.task<[number, number], number>('tasks.add').si(4, 4).clone([], { queue: 'py-q' });
    const result = await chain<number>(add('node-q', 1, 2), add('py-q', 3), fixed, add('node-q', 10)).applyAsync();
    expect(await result.get({ timeout: 30 })).toBe(18); // (1 + 2) + 3, then si(4, 4) ignores it: 8 + 10
  });

  it('a group runs on both workers and its results come back in order', async () => {
    const result = await group<number>([add('node-q', 1, 1), add('py-q', 2, 2), add('node-q', 3, 3)]).applyAsync();
    expect(await result.get({ timeout: 30 })).toEqual([2, 4, 6]);
    const groups = await Promise.all(result.results.map(async (r) => JSON.parse((await backend.get(`celery-task-meta-${r.id}`)) as string).group_id));
    expect(groups).toEqual([result.id, result.id, result.id]);
  });

  it('a chord with its header on Node and Python workers and its body on Python joins in Redis', async () => {
    const result = await chord<number>([add('node-q', 1, 1), add('py-q', 2, 2), add('node-q', 3, 3)], app.signature('tasks.sum', [], {}, { queue: 'py-q' })).applyAsync();
    expect(await result.get({ timeout: 30 })).toBe(12);
  });

  it('a chord whose body runs on Node, and one whose header fails: the body fails with ChordError', async () => {
    const ok = await chord<number>([add('py-q', 5, 5), add('py-q', 6, 6)], app.signature('tasks.sum', [], {}, { queue: 'node-q' })).applyAsync();
    expect(await ok.get({ timeout: 30 })).toBe(22);
    const failing = await chord<number>([add('node-q', 1, 1), app.signature('tasks.fail', ['boom'], {}, { queue: 'node-q' })], app.signature('tasks.sum', [], {}, { queue: 'py-q' })).applyAsync();
    const error = (await failing.get({ timeout: 30 }).catch((e: unknown) => e)) as CeleryTaskError;
    expect(error).toBeInstanceOf(CeleryTaskError);
    expect([error.excType, error.excModule]).toEqual(['ChordError', 'celery.exceptions']);
    expect(String(error.excMessage)).toContain("raised ValueError('boom')");
    // The join keys are gone once the chord completed.
    expect(await backend.keys('celery-taskset-meta-*')).toEqual([]);
  });
});

describe('canvas sent from Python', () => {
  it('a chain with steps on the Node worker and on the Python worker', async () => {
    const outcome = await pythonClient<Outcome>(env, 'canvas', { kind: 'chain', tasks: [node('tasks.add', [1, 2]), py('tasks.add', [3]), node('tasks.add', [4])] });
    expect(outcome.ok).toBe(10);
  });

  it('a group on the Node worker', async () => {
    const outcome = await pythonClient<Outcome>(env, 'canvas', { kind: 'group', tasks: [node('tasks.add', [1, 1]), node('tasks.add', [2, 2])] });
    expect(outcome.ok).toEqual([2, 4]);
  });

  it('a mixed chord: header on Node, body on Python', async () => {
    const outcome = await pythonClient<Outcome>(env, 'canvas', { kind: 'chord', tasks: [node('tasks.add', [1, 1]), node('tasks.add', [2, 2]), node('tasks.add', [3, 3])], body: py('tasks.sum') });
    expect(outcome).toMatchObject({ ok: 12 });
  });

  it('a mixed chord: header on Python and Node, body on Node', async () => {
    const outcome = await pythonClient<Outcome>(env, 'canvas', { kind: 'chord', tasks: [py('tasks.add', [1, 1]), node('tasks.add', [2, 2]), py('tasks.add', [3, 3])], body: node('tasks.sum') });
    expect(outcome).toMatchObject({ ok: 12 });
  });

  it('a chord whose Node header task fails: Python sees the body fail with ChordError', async () => {
    const outcome = await pythonClient<Outcome>(env, 'canvas', { kind: 'chord', tasks: [node('tasks.add', [1, 1]), node('tasks.fail', ['boom'])], body: py('tasks.sum') });
    // Python's get() on a chord raises the header's error first; the body itself holds ChordError.
    expect(outcome.error?.type).toBe('ValueError');
    const body = await pythonClient<Outcome>(env, 'get', { id: outcome.id });
    expect([body.state, body.error?.type, body.error?.module]).toEqual(['FAILURE', 'ChordError', 'celery.exceptions']);
  });
});
