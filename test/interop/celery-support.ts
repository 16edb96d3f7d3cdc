/**
 * Drives Debian's Python Celery 5.2.6 for the Celery interop tests: a worker process on the test
 * Redis (celery_app.py) and one-shot client commands (celery_client.py).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireCommand } from '../setup/prerequisites.js';

const here = fileURLToPath(new URL('.', import.meta.url));
export const PYTHON = '/usr/bin/python3';

export interface CeleryEnv {
  broker: string;
  backend: string;
  visibilityTimeout?: number;
}

function env(celery: CeleryEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KELP_BROKER: celery.broker,
    KELP_BACKEND: celery.backend,
    KELP_VISIBILITY: String(celery.visibilityTimeout ?? 3600),
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

/** Fails (never skips) when python3-celery is missing. */
export function requireCelery(): void {
  requireCommand(PYTHON, ['-c', 'import celery, kombu, redis'], 'python3-celery python3-kombu python3-redis python3-msgpack');
}

export interface PythonWorker {
  readonly process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** A Celery worker (`--pool=solo` unless `args` say otherwise) consuming `queues`. */
export async function startPythonWorker(celery: CeleryEnv, queues: string[], args: string[] = []): Promise<PythonWorker> {
  requireCelery();
  const child = spawn(
    PYTHON,
    ['-m', 'celery', '-A', 'celery_app', 'worker', '--pool=solo', '-Q', queues.join(','), '--without-mingle', '--without-gossip', '-l', 'INFO', '-n', `py${process.pid}-${Date.now()}@%h`, ...args],
    { cwd: here, env: env(celery), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const deadline = Date.now() + 30_000;
  while (!log.includes(' ready.')) {
    if (child.exitCode !== null) throw new Error(`celery worker exited (${child.exitCode}):\n${log}`);
    if (Date.now() > deadline) throw new Error(`celery worker not ready in 30 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    process: child,
    log: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs one celery_client.py command and parses its JSON answer. */
export function pythonClient<T = Record<string, unknown>>(celery: CeleryEnv, command: 'send' | 'call' | 'get' | 'ping' | 'inspect' | 'revoke' | 'events' | 'canvas', spec: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ['celery_client.py', command, JSON.stringify(spec)], { cwd: here, env: env(celery), timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`celery_client.py ${command} failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop() as string) as T);
    });
  });
}
