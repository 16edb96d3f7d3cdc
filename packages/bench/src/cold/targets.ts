/**
 * The performance targets kelp holds itself to (ratios over the peer measured in one run, cold
 * processes), checked against a compare run. Each target names the workload rows and sides it reads, so a reader can
 * find both numbers in the table above it.
 */
import type { Measurement } from './child.js';
import type { WorkloadComparison } from './compare.js';

export interface TargetCheck {
  what: string;
  goal: string;
  /** kelp's figure over the peer's (or an absolute figure), undefined when a side is missing. */
  value?: number;
  /** How `value` reads: a ratio (`x`) or a rate. */
  unit: 'x' | 'msgs/s';
  met?: boolean;
}

type Lookup = (workload: string, side: string) => Measurement | undefined;

/** The one statement of a target's threshold: its goal text and its check both come from it. */
type Bound = { atLeast: number } | { atMost: number };

interface Target {
  what: string;
  bound: Bound;
  unit: 'x' | 'msgs/s';
  value(find: Lookup): number | undefined;
}

/** `>= 3x`, `<= 0.7x`, `>= 40,000 msgs/s`. */
function goalText(bound: Bound, unit: Target['unit']): string {
  const [sign, n] = 'atLeast' in bound ? ['>=', bound.atLeast] : ['<=', bound.atMost];
  return unit === 'x' ? `${sign} ${n}x` : `${sign} ${n.toLocaleString('en-US')} ${unit}`;
}

const meets = (bound: Bound, value: number): boolean => ('atLeast' in bound ? value >= bound.atLeast : value <= bound.atMost);

const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
const rate = (find: Lookup, w: string, s: string): number | undefined => find(w, s)?.rate;

export const TARGETS: readonly Target[] = [
  {
    what: 'README-style consumer, concurrency 50, prefetch 100, awaited acks / BullMQ Worker concurrency 50',
    bound: { atLeast: 3 },
    unit: 'x',
    value: (f) => ratio(rate(f, 'consumer-c50', 'kelp'), rate(f, 'consumer-c50', 'BullMQ')),
  },
  {
    what: 'README-style consumer, concurrency 1, prefetch 1 / BullMQ Worker concurrency 1',
    bound: { atLeast: 1.5 },
    unit: 'x',
    value: (f) => ratio(rate(f, 'consumer-c1', 'kelp'), rate(f, 'consumer-c1', 'BullMQ')),
  },
  {
    what: "client CPU per message at concurrency 1 / BullMQ's",
    bound: { atMost: 0.7 },
    unit: 'x',
    value: (f) => ratio(f('consumer-c1', 'kelp')?.cpuUsPerMsg, f('consumer-c1', 'BullMQ')?.cpuUsPerMsg),
  },
  {
    what: 'publish awaited one at a time / BullMQ add()',
    bound: { atLeast: 1.5 },
    unit: 'x',
    value: (f) => ratio(rate(f, 'publish-serial', 'kelp'), rate(f, 'publish-serial', 'BullMQ add()')),
  },
  {
    what: 'publish awaited one at a time / raw ioredis LPUSH',
    bound: { atLeast: 0.8 },
    unit: 'x',
    value: (f) => ratio(rate(f, 'publish-serial', 'kelp'), rate(f, 'publish-serial', 'raw LPUSH')),
  },
  {
    what: 'paced 1,000 msgs/s, first 3 s, no warm-up: p50 / raw LPUSH->BRPOP p50',
    bound: { atMost: 1.5 },
    unit: 'x',
    value: (f) => ratio(f('paced-1000', 'kelp')?.latencyMs?.p50, f('paced-1000', 'raw LPUSH->BRPOP')?.latencyMs?.p50),
  },
  {
    what: "paced 1,000 msgs/s, first 3 s, no warm-up: p99 / Kombu's p99",
    bound: { atMost: 1 },
    unit: 'x',
    value: (f) => ratio(f('paced-1000', 'kelp')?.latencyMs?.p99, f('paced-1000', 'Kombu')?.latencyMs?.p99),
  },
  {
    what: '`kelp consume` to /dev/null / the Python Kombu consumer',
    bound: { atLeast: 20 },
    unit: 'x',
    value: (f) => ratio(rate(f, 'cli-consume', 'kelp CLI'), rate(f, 'cli-consume', 'Kombu consumer')),
  },
  {
    what: '`kelp consume` to /dev/null, 100,000 messages',
    bound: { atLeast: 40_000 },
    unit: 'msgs/s',
    value: (f) => rate(f, 'cli-consume', 'kelp CLI'),
  },
  {
    what: 'memory:// consume+ack, prefetch 100 / the Redis transport',
    bound: { atLeast: 2 },
    unit: 'x',
    value: (f) => ratio(rate(f, 'memory-vs-redis', 'memory://'), rate(f, 'memory-vs-redis', 'redis')),
  },
];

/** Consumer peak RSS at each backlog measured: kelp's over BullMQ's, at most 1x. */
function rssTargets(results: readonly WorkloadComparison[]): Target[] {
  return results
    .filter((r) => r.id.startsWith('rss-'))
    .map((r) => ({
      what: `consumer peak RSS, backlog ${r.id.slice('rss-'.length)} / BullMQ Worker's`,
      bound: { atMost: 1 },
      unit: 'x' as const,
      value: (f: Lookup) => ratio(f(r.id, 'kelp')?.peakRssMiB, f(r.id, 'BullMQ')?.peakRssMiB),
    }));
}

/** Every target with its measured value and verdict. */
export function checkTargets(results: readonly WorkloadComparison[]): TargetCheck[] {
  const find: Lookup = (workload, side) => results.find((r) => r.id === workload)?.sides.find((s) => s.name === side)?.median;
  return [...TARGETS, ...rssTargets(results)].map((t) => {
    const value = t.value(find);
    const check: TargetCheck = { what: t.what, goal: goalText(t.bound, t.unit), unit: t.unit };
    if (value !== undefined) {
      check.value = value;
      check.met = meets(t.bound, value);
    }
    return check;
  });
}
