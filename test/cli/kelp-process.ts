/**
 * Runs the BUILT `kelp` command (packages/cli/dist/kelp.js, made by `npm run build`) as a child
 * process, the way a user runs it. Every run is bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const KELP_JS = fileURLToPath(new URL('../../packages/cli/dist/kelp.js', import.meta.url));

export interface KelpRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function assertBuilt(): void {
  if (!existsSync(KELP_JS)) throw new Error(`${KELP_JS} is missing: run npm run build first (npm test does)`);
}

export function startKelp(args: readonly string[]): ChildProcess {
  assertBuilt();
  return spawn(process.execPath, [KELP_JS, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, KELP_DEBUG: '' } });
}

/** Collects a started process's output until it exits (killed after `timeoutMs`). */
export function finished(child: ChildProcess, timeoutMs = 30_000): Promise<KelpRun> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kelp did not exit within ${timeoutMs} ms; stdout so far: ${stdout.slice(0, 500)} stderr: ${stderr.slice(0, 500)}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export async function kelp(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<KelpRun> {
  const child = startKelp(args);
  const done = finished(child, options.timeoutMs);
  child.stdin?.end(options.input ?? '');
  return done;
}

/** Resolves once `child` printed `lines` lines on stdout. */
export function waitForLines(child: ChildProcess, lines: number, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(`saw ${seen} of ${lines} lines within ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer | string) => {
      seen += String(chunk).split('\n').length - 1;
      if (seen >= lines) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
