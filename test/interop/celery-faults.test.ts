/**
 * Faults around kelp's Celery support: a worker with `acksLate` killed mid-task (the task runs
 * again after the visibility timeout and its result is stored once), and `AsyncResult.get()`
 * losing its subscription while the result is stored (it reads the key again on reconnect).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from 'kelp';
import { bundleChild, repoRoot, type ChildBundle } from '../setup/child-bundle.js';
import { freshDb } from '../setup/fresh-db.js';

const WORKER_SOURCE = `
import { Celery } from 'kelp';
const [broker, backend] = process.argv.slice(2);
const app = new Celery({ broker, backend, connectionOptions: { transportOptions: { visibilityTimeout: 2, unackedRestoreInterval: 1 } } });
const worker = app.worker({
  queues: ['crash-q'],
  acksLate: true,
  tasks: {
    'tasks.slow': async (ms: number, ctx: { id: string; deliveryInfo: { redelivered: boolean } }) => {
      process.stdout.write('started ' + ctx.id + ' redelivered=' + ctx.deliveryInfo.redelivered + '\\n');
      await new Promise((r) => setTimeout(r, ms));
      return 'done';
    },
  },
});
await worker.start();
process.stdout.write('ready\\n');
`;

let bundle: ChildBundle;
let brokerUrl: string;
let backendUrl: string;
let broker: Redis;
let backend: Redis;
let app: Celery;
const children: ChildProcess[] = [];

beforeAll(async () => {
  bundle = await bundleChild({ source: WORKER_SOURCE, resolveDir: fileURLToPath(new URL('.', import.meta.url)) }, 'celery-crash-worker');
  [brokerUrl, backendUrl] = [(await freshDb()).url, (await freshDb()).url];
  broker = new Redis(brokerUrl);
  backend = new Redis(backendUrl);
  app = new Celery({ broker: brokerUrl, backend: backendUrl, defaultQueue: 'crash-q' });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await app?.close();
  broker?.disconnect();
  backend?.disconnect();
  bundle?.remove();
});

function startWorker(): { child: ChildProcess; output: () => string; waitFor: (text: string) => Promise<void> } {
  const child = spawn(process.execPath, [bundle.file, brokerUrl, backendUrl], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  return {
    child,
    output: () => out,
    async waitFor(text) {
      const deadline = Date.now() + 20_000;
      while (!out.includes(text)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no "${text}" from the worker:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe('a worker with acksLate killed mid-task', () => {
  it('leaves the task unacked; another worker runs it after the visibility timeout and the result is stored once', async () => {
    const first = startWorker();
    await first.waitFor('ready');
    const result = await app.sendTask('tasks.slow', [1500]);
    const subscriber = new Redis(backendUrl);
    const published: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => published.push(message));
    await subscriber.subscribe(`celery-task-meta-${result.id}`);

    await first.waitFor(`started ${result.id}`);
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    expect(await broker.hlen('unacked')).toBe(1); // not acked before the run, as acksLate asks
    expect(await result.state).toBe('PENDING');

    const second = startWorker();
    await second.waitFor(`started ${result.id} redelivered=true`);
    expect(await result.get({ timeout: 20 })).toBe('done');
    await new Promise((r) => setTimeout(r, 300));
    expect(published.map((m) => (JSON.parse(m) as { status: string }).status)).toEqual(['SUCCESS']);
    expect(await broker.hlen('unacked')).toBe(0);
    subscriber.disconnect();
    second.child.kill('SIGTERM');
  });
});

describe('a worker paused mid-task past the visibility timeout', () => {
  it('finishes after another worker ran the task again, and the first SUCCESS stays the only one stored', async () => {
    const first = startWorker();
    await first.waitFor('ready');
    const result = await app.sendTask('tasks.slow', [1000]);
    const subscriber = new Redis(backendUrl);
    const published: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => published.push(message));
    await subscriber.subscribe(`celery-task-meta-${result.id}`);
    await first.waitFor(`started ${result.id}`);
    first.child.kill('SIGSTOP');
    const second = startWorker();
    await second.waitFor(`started ${result.id} redelivered=true`);
    expect(await result.get({ timeout: 20 })).toBe('done');
    first.child.kill('SIGCONT'); // its run ends now and tries to store SUCCESS again
    await new Promise((r) => setTimeout(r, 2000));
    expect(published.length).toBe(1);
    subscriber.disconnect();
    first.child.kill('SIGTERM');
    second.child.kill('SIGTERM');
  });
});

describe('get() across a lost subscription', () => {
  it('reads the key again after reconnecting, so a result stored meanwhile is not missed', async () => {
    const id = 'stored-while-disconnected';
    const waiting = app.AsyncResult(id).get({ timeout: 20 });
    await new Promise((r) => setTimeout(r, 300)); // subscribed by now
    const payload = JSON.stringify({ status: 'SUCCESS', result: 7, traceback: null, children: [], date_done: null, task_id: id });
    // Kill the subscriber connection, and store the result before it is back (its PUBLISH is lost).
    await backend.client('KILL', 'TYPE', 'pubsub');
    await backend.set(`celery-task-meta-${id}`, payload);
    await backend.publish(`celery-task-meta-${id}`, payload);
    expect(await waiting).toBe(7);
  });
});
