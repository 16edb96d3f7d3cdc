/**
 * The Celery examples against Redis, as their headers describe (test/cli/examples.test.ts runs
 * them on memory://): celery-task.mjs with a Python Celery worker, the worker and canvas examples
 * with a result backend.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../cli/kelp-process.js';
import { repoRoot } from '../setup/child-bundle.js';
import { freshDb } from '../setup/fresh-db.js';
import { startPythonWorker, type CeleryEnv, type PythonWorker } from './celery-support.js';

let env: CeleryEnv;
let pyWorker: PythonWorker;

function runExample(file: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assertBuilt();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'examples', file), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  env = { broker: (await freshDb()).url, backend: (await freshDb()).url };
  pyWorker = await startPythonWorker(env, ['celery']);
});

afterAll(async () => {
  await pyWorker?.stop();
});

describe('the Celery examples on Redis', () => {
  it('celery-task.mjs gets 5 and 30 from a Python worker, and a typed failure', async () => {
    const run = await runExample('celery-task.mjs', env.broker, env.backend);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/sent tasks\.add\(2, 3\) id=[0-9a-f-]{36}\nresult: 5\nlater: 30\nfailed as Python said: NotRegistered\n/);
  });

  it('celery-canvas.mjs runs the chain, the group and the chord', async () => {
    await pyWorker.stop(); // the example's own worker takes every task from here on
    const run = await runExample('celery-canvas.mjs', env.broker, env.backend);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toBe('chain result: 16\ngroup results: [ 2, 4, 6 ]\nchord result: 12\n');
  });

  it('celery-worker.mjs runs its three tasks and stops', async () => {
    const run = await runExample('celery-worker.mjs', env.broker, env.backend);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/worker ran 4 task runs and stopped/);
  });
});
