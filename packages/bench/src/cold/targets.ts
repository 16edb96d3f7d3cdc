/**
 * The targets of issue 12 ("Targets", ratios measured in one run, cold processes), checked
 * against a compare run. Each target names the workload rows and sides it reads, so a reader can
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

interface Target {
  what: string;
  goal: string;
  unit: 'x' | 'msgs/s';
  value(find: Lookup): number | undefined;
  ok(value: number): boolean;
}

const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
const rate = (find: Lookup, w: string, s: string): number | undefined => find(w, s)?.rate;

export const TARGETS: readonly Target[] = [
  {
    what: 'README-style consumer, concurrency 50, prefetch 100, awaited acks / BullMQ Worker concurrency 50',
    goal: '>= 3x',
    unit: 'x',
    value: (f) => ratio(rate(f, 'consumer-c50', 'kelp'), rate(f, 'consumer-c50', 'BullMQ')),
    ok: (v) => v >= 3,
  },
  {
    what: 'README-style consumer, concurrency 1, prefetch 1 / BullMQ Worker concurrency 1',
    goal: '>= 1.5x',
    unit: 'x',
    value: (f) => ratio(rate(f, 'consumer-c1', 'kelp'), rate(f, 'consumer-c1', 'BullMQ')),
    ok: (v) => v >= 1.5,
  },
  {
    what: "client CPU per message at concurrency 1 / BullMQ's",
    goal: '<= 0.7x',
    unit: 'x',
    value: (f) => ratio(f('consumer-c1', 'kelp')?.cpuUsPerMsg, f('consumer-c1', 'BullMQ')?.cpuUsPerMsg),
    ok: (v) => v <= 0.7,
  },
  {
    what: 'publish awaited one at a time / BullMQ add()',
    goal: '>= 1.5x',
    unit: 'x',
    value: (f) => ratio(rate(f, 'publish-serial', 'kelp'), rate(f, 'publish-serial', 'BullMQ add()')),
    ok: (v) => v >= 1.5,
  },
  {
    what: 'publish awaited one at a time / raw ioredis LPUSH',
    goal: '>= 0.8x',
    unit: 'x',
    value: (f) => ratio(rate(f, 'publish-serial', 'kelp'), rate(f, 'publish-serial', 'raw LPUSH')),
    ok: (v) => v >= 0.8,
  },
  {
    what: 'paced 1,000 msgs/s, first 3 s, no warm-up: p50 / raw LPUSH->BRPOP p50',
    goal: '<= 1.5x',
    unit: 'x',
    value: (f) => ratio(f('paced-1000', 'kelp')?.latencyMs?.p50, f('paced-1000', 'raw LPUSH->BRPOP')?.latencyMs?.p50),
    ok: (v) => v <= 1.5,
  },
  {
    what: "paced 1,000 msgs/s, first 3 s, no warm-up: p99 / Kombu's p99",
    goal: '<= 1x',
    unit: 'x',
    value: (f) => ratio(f('paced-1000', 'kelp')?.latencyMs?.p99, f('paced-1000', 'Kombu')?.latencyMs?.p99),
    ok: (v) => v <= 1,
  },
  {
    what: '`kelp consume` to /dev/null / the Python Kombu consumer',
    goal: '>= 20x',
    unit: 'x',
    value: (f) => ratio(rate(f, 'cli-consume', 'kelp CLI'), rate(f, 'cli-consume', 'Kombu consumer')),
    ok: (v) => v >= 20,
  },
  {
    what: '`kelp consume` to /dev/null, 100,000 messages',
    goal: '>= 40,000 msgs/s',
    unit: 'msgs/s',
    value: (f) => rate(f, 'cli-consume', 'kelp CLI'),
    ok: (v) => v >= 40_000,
  },
  {
    what: 'memory:// consume+ack, prefetch 100 / the Redis transport',
    goal: '>= 2x',
    unit: 'x',
    value: (f) => ratio(rate(f, 'memory-vs-redis', 'memory://'), rate(f, 'memory-vs-redis', 'redis')),
    ok: (v) => v >= 2,
  },
];

/** Consumer peak RSS at each backlog measured: kelp's over BullMQ's, at most 1x. */
function rssTargets(results: readonly WorkloadComparison[]): Target[] {
  return results
    .filter((r) => r.id.startsWith('rss-'))
    .map((r) => ({
      what: `consumer peak RSS, backlog ${r.id.slice('rss-'.length)} / BullMQ Worker's`,
      goal: '<= 1x',
      unit: 'x' as const,
      value: (f: Lookup) => ratio(f(r.id, 'kelp')?.peakRssMiB, f(r.id, 'BullMQ')?.peakRssMiB),
      ok: (v: number) => v <= 1,
    }));
}

/** Every target with its measured value and verdict. */
export function checkTargets(results: readonly WorkloadComparison[]): TargetCheck[] {
  const find: Lookup = (workload, side) => results.find((r) => r.id === workload)?.sides.find((s) => s.name === side)?.median;
  return [...TARGETS, ...rssTargets(results)].map((t) => {
    const value = t.value(find);
    const check: TargetCheck = { what: t.what, goal: t.goal, unit: t.unit };
    if (value !== undefined) {
      check.value = value;
      check.met = t.ok(value);
    }
    return check;
  });
}
