/**
 * The loads of `kelp bench polling`: how messages spread over the queues and in what order and
 * rhythm they are published. Built in: `even`, `skewed` (Zipf-like: queue i gets a share
 * proportional to 1/(i+1)^s, `--zipf S`, default 1), `bursty` (even shares, published as bursts
 * of one queue at a time) and `priority` (even shares, message priorities 0/3/6/9 mixed). Or a
 * JSON file (`--load path.json`) giving each queue's weight or rate and priority:
 *
 *   { "name": "orders", "queues": [ { "weight": 5, "priority": 9 }, { "weight": 2 }, { "weight": 1 } ] }
 *
 * A queue with `rate` (msgs/s) has that as its weight, and when every queue has one, their sum
 * is the paced phase's rate. The plan is deterministic, so two runs publish the same sequence.
 */
import { readFileSync } from 'node:fs';

export const BUILTIN_LOADS = ['skewed', 'even', 'bursty', 'priority'] as const;
export type BuiltinLoad = (typeof BUILTIN_LOADS)[number];

export interface QueueLoad {
  /** Relative share of the messages. */
  weight: number;
  /** Priority every message of this queue carries (0-9); none when absent. */
  priority?: number;
  /** Messages per second in the paced phase, when the load file gives rates. */
  rate?: number;
}

export interface LoadSpec {
  name: string;
  /** One entry per queue, in declaration order. */
  queues: QueueLoad[];
  /** Messages of one queue published back to back (1 = interleaved). */
  burst: number;
  /** Priorities cycled over the messages when the queues do not set their own. */
  priorityMix?: readonly number[];
  /** Paced rate implied by the load (the sum of the queues' rates), when it gives one. */
  rate?: number;
  /** One line for the report. */
  description: string;
}

/** One message of a plan: which queue and with what priority. */
export interface PlannedMessage {
  queue: number;
  priority?: number;
}

/** Priorities cycled through by the priority load: mostly normal, some urgent, some bulk. */
export const PRIORITY_MIX: readonly number[] = [0, 0, 3, 3, 3, 3, 6, 6, 9, 9];
const BURST = 25;

class LoadError extends Error {
  override name = 'UsageError';
}

/** A built-in load over `queues` queues; `zipf` is the skew exponent of `skewed`. */
export function builtinLoad(name: BuiltinLoad, queues: number, zipf = 1): LoadSpec {
  const even = Array.from({ length: queues }, () => ({ weight: 1 }));
  switch (name) {
    case 'even':
      return { name, queues: even, burst: 1, description: `${queues} queues, equal shares` };
    case 'skewed':
      return {
        name,
        queues: Array.from({ length: queues }, (_, i) => ({ weight: 1 / (i + 1) ** zipf })),
        burst: 1,
        description: `${queues} queues, Zipf-like shares 1/(i+1)^${zipf}`,
      };
    case 'bursty':
      return { name, queues: even, burst: BURST, description: `${queues} queues, equal shares published in bursts of ${BURST} messages of one queue` };
    case 'priority':
      return { name, queues: even, burst: 1, priorityMix: PRIORITY_MIX, description: `${queues} queues, equal shares, priorities ${[...new Set(PRIORITY_MIX)].join('/')} mixed` };
  }
}

const FILE_KEYS = ['name', 'queues', 'burst'];
const QUEUE_KEYS = ['weight', 'rate', 'priority'];

/** The closest allowed key, for "did you mean". */
export function closest(key: string, allowed: readonly string[]): string {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i += 1) {
      let prev = row[0] as number;
      row[0] = i;
      for (let j = 1; j <= b.length; j += 1) {
        const next = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = row[j] as number;
        row[j] = next;
      }
    }
    return row[b.length] as number;
  };
  return [...allowed].sort((x, y) => distance(key, x) - distance(key, y))[0] as string;
}

function checkKeys(path: string, where: string, value: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new LoadError(`--load ${path}: unknown key ${where}${key}; did you mean ${closest(key, allowed)}?`);
  }
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** Reads a load file (see the module header); throws a usage error naming what is wrong. */
export function loadFromFile(path: string): LoadSpec {
  let file: unknown;
  try {
    file = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new LoadError(`--load ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const shape = 'expected {"queues": [{"weight" or "rate", "priority"?}, ...]}';
  if (typeof file !== 'object' || file === null || Array.isArray(file)) throw new LoadError(`--load ${path}: ${shape}`);
  const top = file as Record<string, unknown>;
  checkKeys(path, '', top, FILE_KEYS);
  if (!Array.isArray(top['queues']) || top['queues'].length === 0) throw new LoadError(`--load ${path}: queues must be a non-empty array (${shape})`);
  if (top['burst'] !== undefined && !(Number.isInteger(top['burst']) && positive(top['burst']))) throw new LoadError(`--load ${path}: burst must be a positive integer`);
  if (top['name'] !== undefined && (typeof top['name'] !== 'string' || top['name'] === '')) throw new LoadError(`--load ${path}: name must be a non-empty string`);
  const queues: QueueLoad[] = (top['queues'] as unknown[]).map((entry, i) => {
    if (typeof entry !== 'object' || entry === null) throw new LoadError(`--load ${path}: queues.${i} must be an object (${shape})`);
    const q = entry as Record<string, unknown>;
    checkKeys(path, `queues.${i}.`, q, QUEUE_KEYS);
    for (const key of ['weight', 'rate'] as const) {
      if (q[key] !== undefined && !positive(q[key])) throw new LoadError(`--load ${path}: queues.${i}.${key} must be a positive number`);
    }
    const priority = q['priority'];
    if (priority !== undefined && !(Number.isInteger(priority) && (priority as number) >= 0 && (priority as number) <= 9)) {
      throw new LoadError(`--load ${path}: queues.${i}.priority must be an integer 0-9`);
    }
    const weight = (q['weight'] ?? q['rate']) as number | undefined;
    if (weight === undefined) throw new LoadError(`--load ${path}: queues.${i} needs a weight or a rate`);
    const load: QueueLoad = { weight };
    if (priority !== undefined) load.priority = priority as number;
    if (q['rate'] !== undefined) load.rate = q['rate'] as number;
    return load;
  });
  const spec: LoadSpec = {
    name: (top['name'] as string | undefined) ?? 'file',
    queues,
    burst: (top['burst'] as number | undefined) ?? 1,
    description: `${path}: ${queues.length} queues, weights ${queues.map((q) => +q.weight.toPrecision(3)).join('/')}`,
  };
  if (queues.every((q) => q.rate !== undefined)) spec.rate = queues.reduce((sum, q) => sum + (q.rate as number), 0);
  return spec;
}

/** Splits `total` by the weights with the largest-remainder method: exact total, each within 1 of its share. */
export function countsFor(load: LoadSpec, total: number): number[] {
  const sum = load.queues.reduce((s, q) => s + q.weight, 0);
  const exact = load.queues.map((q) => (total * q.weight) / sum);
  const counts = exact.map(Math.floor);
  let rest = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (rest <= 0) break;
    counts[i] = (counts[i] as number) + 1;
    rest -= 1;
  }
  return counts;
}

/**
 * The publish order of `total` messages: queues interleaved in proportion to their counts
 * (smooth weighted round robin), `burst` messages of a queue at a time.
 */
export function planMessages(load: LoadSpec, total: number): PlannedMessage[] {
  const counts = countsFor(load, total);
  const left = [...counts];
  const credit = new Array<number>(counts.length).fill(0);
  const plan: PlannedMessage[] = [];
  while (plan.length < total) {
    // Smooth weighted round robin over the queues with messages left.
    let best = -1;
    let sum = 0;
    for (let q = 0; q < counts.length; q += 1) {
      if ((left[q] as number) <= 0) continue;
      credit[q] = (credit[q] as number) + (counts[q] as number);
      sum += counts[q] as number;
      if (best < 0 || (credit[q] as number) > (credit[best] as number)) best = q;
    }
    credit[best] = (credit[best] as number) - sum;
    const take = Math.min(load.burst, left[best] as number);
    for (let k = 0; k < take; k += 1) {
      const message: PlannedMessage = { queue: best };
      const own = load.queues[best]?.priority;
      const mixed = load.priorityMix?.[plan.length % load.priorityMix.length];
      if (own !== undefined) message.priority = own;
      else if (mixed !== undefined) message.priority = mixed;
      plan.push(message);
    }
    left[best] = (left[best] as number) - take;
  }
  return plan;
}

/** Whether the load's messages carry priorities (the queues are then declared with x-max-priority). */
export function usesPriorities(load: LoadSpec): boolean {
  return load.priorityMix !== undefined || load.queues.some((q) => q.priority !== undefined);
}

/**
 * When message k of a paced plan is due (ms after the start): at `rate` msgs/s, a burst leaving
 * at once at the time of its first message.
 */
export function dueAtMs(load: LoadSpec, k: number, rate: number): number {
  const first = Math.floor(k / load.burst) * load.burst;
  return (first * 1000) / rate;
}
