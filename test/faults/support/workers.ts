/** Starts and stops consumer-worker processes and reads their logs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkerConfig } from './consumer-worker.js';

/**
 * A directory for worker logs: tmpfs when there is one, so the fsync after each delivery line
 * (which keeps the log honest across SIGKILL) costs microseconds instead of milliseconds.
 */
export function makeLogDir(): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, 'kelp-faults-'));
}

export interface WorkerHandle {
  readonly log: string;
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the worker printed `ready` (consuming), rejects if it exits first or times out. */
  readonly ready: Promise<void>;
  output(): string;
  killed: boolean;
}

export function spawnWorker<C extends { readonly log: string } = WorkerConfig>(bundleFile: string, config: C, readyTimeoutMs = 20_000): WorkerHandle {
  const child = spawn(process.execPath, [bundleFile, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready in ${readyTimeoutMs} ms:\n${output}`)), readyTimeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000);
      if (output.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000)));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code ?? signal}) before ready:\n${output}`));
    });
  });
  ready.catch(() => undefined);
  return { log: config.log, process: child, exited, ready, output: () => output, killed: false };
}

export async function killWorker(worker: WorkerHandle, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<void> {
  if (worker.process.exitCode !== null || worker.process.signalCode !== null) return;
  if (signal === 'SIGKILL') worker.killed = true;
  worker.process.kill(signal);
  const timer = setTimeout(() => {
    worker.killed = true;
    worker.process.kill('SIGKILL');
  }, timeoutMs);
  await worker.exited;
  clearTimeout(timer);
}

export interface LogDelivery {
  id: string;
  redelivered: boolean;
  at: number;
  /** Index of the incarnation (log file) it was seen in. */
  incarnation: number;
}

export interface Incarnation {
  log: string;
  killed: boolean;
  deliveries: LogDelivery[];
  acked: Set<string>;
  failedAcks: Set<string>;
  events: string[];
  /**
   * For a SIGKILLed incarnation: the ids in Redis (waiting or unacked) right after it died. What
   * it delivered and is missing from here had its ack reach Redis before the kill.
   */
  inRedisAfterKill?: ReadonlySet<string>;
}

export function readIncarnation(log: string, killed: boolean, index: number): Incarnation {
  const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
  const inc: Incarnation = { log, killed, deliveries: [], acked: new Set(), failedAcks: new Set(), events: [] };
  for (const raw of text.split('\n')) {
    const parts = raw.split(' ');
    // A SIGKILL can cut the last line short; only complete records count.
    if (parts[0] === 'D' && parts.length >= 4) {
      inc.deliveries.push({ id: parts[1] as string, redelivered: parts[2] === '1', at: Number(parts[3]), incarnation: index });
    } else if (parts[0] === 'A' && parts.length >= 2) inc.acked.add(parts[1] as string);
    else if (parts[0] === 'F' && parts.length >= 2) inc.failedAcks.add(parts[1] as string);
    else if (parts[0] === 'E' || parts[0] === 'X') inc.events.push(raw);
  }
  return inc;
}

/** What one SIGKILL left behind in the incarnation it killed. */
export interface KillOutcome {
  incarnation: number;
  /** Delivered, ack not confirmed, still in Redis after the kill: what a restore must bring back. */
  held: number;
  /**
   * Delivered, ack not confirmed, gone from Redis after the kill: the ack landed and the log
   * line after it did not. Never more than one prefetch window.
   */
  ackMayHaveLanded: string[];
}

export interface DeliveryAnalysis {
  totalDeliveries: number;
  distinctDelivered: number;
  /** Deliveries beyond the first of each id. */
  redeliveries: number;
  /** Deliveries flagged redelivered by the broker (restored or requeued before). */
  markedRedelivered: number;
  /** Ids whose ack was confirmed (logged after `await message.ack()` resolved). */
  ackedLogged: number;
  neverDelivered: string[];
  /** One entry per SIGKILLed incarnation whose Redis state was taken after the kill. */
  kills: KillOutcome[];
  /**
   * Ids neither confirmed acked, nor in Redis at the end, nor an ack that may have landed at a
   * kill: dropped somewhere (for instance by a restore that did not push them back).
   */
  lost: string[];
  /** Redeliveries whose earlier delivery was unacked in a process that was SIGKILLed. */
  afterKill: number;
  /** Redeliveries whose earlier delivery's ack failed (connection trouble). */
  afterFailedAck: number;
  /** Redeliveries with no kill or failed ack to explain them (a message redelivered while held or after its ack). */
  unexplained: string[];
  /** Messages redelivered although an earlier delivery was acked. */
  afterAck: string[];
}

/**
 * Accounts for every id from the workers' logs. An id is safe only when an ack of it was
 * confirmed or it is still in Redis (`stillInRedis`, taken at the end): a delivery alone proves
 * nothing, since a message delivered to a killed worker must come back through a restore.
 */
export function analyseDeliveries(ids: readonly string[], incarnations: readonly Incarnation[], stillInRedis: ReadonlySet<string>): DeliveryAnalysis {
  const byId = new Map<string, LogDelivery[]>();
  let total = 0;
  let markedRedelivered = 0;
  const ackedIds = new Set<string>();
  for (const inc of incarnations) {
    for (const d of inc.deliveries) {
      total += 1;
      if (d.redelivered) markedRedelivered += 1;
      const list = byId.get(d.id) ?? [];
      list.push(d);
      byId.set(d.id, list);
    }
    for (const id of inc.acked) ackedIds.add(id);
  }
  let afterKill = 0;
  let afterFailedAck = 0;
  const unexplained: string[] = [];
  const afterAck: string[] = [];
  for (const [id, list] of byId) {
    list.sort((a, b) => a.at - b.at);
    for (const earlier of list.slice(0, -1)) {
      const inc = incarnations[earlier.incarnation] as Incarnation;
      if (inc.acked.has(id) && inc.deliveries.filter((d) => d.id === id).length === 1) afterAck.push(id);
      else if (inc.failedAcks.has(id)) afterFailedAck += 1;
      else if (inc.killed) afterKill += 1;
      else unexplained.push(id);
    }
  }
  const kills: KillOutcome[] = [];
  const ackMayHaveLanded = new Set<string>();
  for (const [index, inc] of incarnations.entries()) {
    if (!inc.killed || inc.inRedisAfterKill === undefined) continue;
    const unconfirmed = new Set(inc.deliveries.map((d) => d.id).filter((id) => !inc.acked.has(id)));
    const landed = [...unconfirmed].filter((id) => !inc.inRedisAfterKill?.has(id));
    for (const id of landed) ackMayHaveLanded.add(id);
    kills.push({ incarnation: index, held: unconfirmed.size - landed.length, ackMayHaveLanded: landed });
  }
  return {
    kills,
    lost: ids.filter((id) => !ackedIds.has(id) && !stillInRedis.has(id) && !ackMayHaveLanded.has(id)),
    totalDeliveries: total,
    distinctDelivered: byId.size,
    redeliveries: total - byId.size,
    markedRedelivered,
    ackedLogged: [...ackedIds].filter((id) => byId.has(id)).length,
    neverDelivered: ids.filter((id) => !byId.has(id)),
    afterKill,
    afterFailedAck,
    unexplained,
    afterAck,
  };
}
