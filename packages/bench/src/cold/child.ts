/**
 * Runs one cold child process (a script of `packages/bench/children`, the CLI, or a Python peer)
 * and returns what it measured: the last JSON `result` line it printed, or for a whole-process
 * run, the wall time from spawn to exit. A child that outlives its timeout is killed and fails.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { CHILDREN_DIR } from '../paths.js';

/** What one side of a cold workload measured. Rates in msgs/s, CPU in us per message. */
export interface Measurement {
  messages: number;
  seconds: number;
  rate: number;
  cpuUsPerMsg?: number;
  peakRssMiB?: number;
  latencyMs?: { p50: number; p99: number };
}

export interface ChildOptions {
  timeoutMs: number;
  /** Called with each JSON line the child prints (e.g. its `ready` event). */
  onLine?: (line: Record<string, unknown>) => void;
  /**
   * Send stdout to /dev/null and time the whole process (spawn to exit, and its CPU time on
   * Linux) instead of reading a result line. Never run two such children at once.
   */
  wholeProcess?: { messages: number };
}

export interface RunningChild {
  /** Resolves once the child printed `{"event": "ready"}`. */
  ready: Promise<void>;
  result: Promise<Measurement>;
}

/** CPU microseconds of this process's exited children so far (Linux; undefined elsewhere). */
function childrenCpuUs(): number | undefined {
  try {
    // /proc/self/stat: the fields after the command's closing parenthesis; cutime and cstime are
    // the 14th and 15th of them, in clock ticks (100 per second on Linux).
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[13]) + Number(fields[14]);
    return Number.isFinite(ticks) ? ticks * 10_000 : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `program args...` and reads its result. */
export function startChild(program: string, args: readonly string[], options: ChildOptions): RunningChild {
  const devNull = options.wholeProcess ? openSync('/dev/null', 'w') : undefined;
  const cpuBefore = options.wholeProcess ? childrenCpuUs() : undefined;
  const began = performance.now();
  const child = spawn(program, [...args], { stdio: ['ignore', devNull ?? 'pipe', 'pipe'] });
  if (devNull !== undefined) closeSync(devNull);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  let last: Record<string, unknown> | undefined;
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return; // not a protocol line
      }
      options.onLine?.(line);
      if (line['event'] === 'ready') onReady();
      if (line['event'] === 'result' || line['mode'] !== undefined) last = line;
    });
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const result = new Promise<Measurement>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - began) / 1000;
      const name = `${program.split('/').pop() ?? program} ${args[0] ?? ''}`.trim();
      if (code !== 0) {
        reject(new Error(`${name} exited with ${signal ?? code}${signal === 'SIGKILL' ? ` (over ${options.timeoutMs / 1000} s)` : ''}: ${stderr.trim().split('\n').pop() ?? ''}`));
      } else if (options.wholeProcess) {
        // One whole-process child runs at a time, so the children's CPU that grew is its own.
        const { messages } = options.wholeProcess;
        const cpuAfter = childrenCpuUs();
        const whole: Measurement = { messages, seconds, rate: messages / seconds };
        if (cpuBefore !== undefined && cpuAfter !== undefined) whole.cpuUsPerMsg = (cpuAfter - cpuBefore) / messages;
        resolve(whole);
      } else if (!last) {
        reject(new Error(`${name} printed no result: ${stderr.trim().split('\n').pop() ?? ''}`));
      } else {
        resolve(measurementOf(last));
      }
    });
  });
  ready.catch(() => undefined);
  return { ready, result };
}

/** Reads a child's result line, in either the Node children's or the Python peer's field names. */
export function measurementOf(line: Record<string, unknown>): Measurement {
  const n = (key: string, alt?: string): number | undefined => {
    const value = line[key] ?? (alt ? line[alt] : undefined);
    return typeof value === 'number' ? value : undefined;
  };
  const m: Measurement = { messages: n('messages') ?? 0, seconds: n('seconds') ?? 0, rate: n('rate') ?? 0 };
  const cpu = n('cpuUsPerMsg', 'cpu_us_per_msg');
  const rss = n('peakRssMiB', 'peak_rss_mib');
  if (cpu !== undefined) m.cpuUsPerMsg = cpu;
  if (rss !== undefined) m.peakRssMiB = rss;
  const latency = (line['latencyMs'] ?? line['latency_ms']) as { p50?: unknown; p99?: unknown } | undefined;
  if (typeof latency?.p50 === 'number' && typeof latency.p99 === 'number') m.latencyMs = { p50: latency.p50, p99: latency.p99 };
  return m;
}

/** Runs a Node child script of `children/` to its result. */
export function runNodeChild(script: string, args: readonly string[], timeoutMs: number): Promise<Measurement> {
  return startChild(process.execPath, [`${CHILDREN_DIR}${script}`, ...args], { timeoutMs }).result;
}
