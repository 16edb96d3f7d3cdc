/**
 * Runs the cold workloads round by round: in each round every workload runs each of its sides
 * once, one after the other, so that a drift in the machine's load hits kelp and its peers alike.
 * A side's figure is the median of its rounds, metric by metric.
 */
import { median } from '../stats.js';
import type { Measurement } from './child.js';
import type { ColdContext, ColdWorkload } from './workloads.js';

export interface SideResult {
  name: string;
  /** Medians over the rounds that succeeded; undefined when none did. */
  median?: Measurement;
  runs: Measurement[];
  errors: string[];
}

export interface WorkloadComparison {
  id: string;
  label: string;
  sides: SideResult[];
}

/** Median of each metric over `runs` (each metric on its own: the runs need not agree on one). */
export function medianOf(runs: readonly Measurement[]): Measurement | undefined {
  if (runs.length === 0) return undefined;
  const of = (pick: (m: Measurement) => number | undefined): number | undefined => {
    const values = runs.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return values.length > 0 ? median(values) : undefined;
  };
  const m: Measurement = { messages: of((r) => r.messages) ?? 0, seconds: of((r) => r.seconds) ?? 0, rate: of((r) => r.rate) ?? 0 };
  const cpu = of((r) => r.cpuUsPerMsg);
  const rss = of((r) => r.peakRssMiB);
  const p50 = of((r) => r.latencyMs?.p50);
  const p99 = of((r) => r.latencyMs?.p99);
  if (cpu !== undefined) m.cpuUsPerMsg = cpu;
  if (rss !== undefined) m.peakRssMiB = rss;
  if (p50 !== undefined && p99 !== undefined) m.latencyMs = { p50, p99 };
  return m;
}

export interface CompareOptions {
  rounds: number;
  /** Told about every run as it ends (for progress on stderr). */
  onRun?: (workload: ColdWorkload, side: string, round: number, outcome: Measurement | Error) => void;
}

export async function compareCold(ctx: ColdContext, workloads: readonly ColdWorkload[], options: CompareOptions): Promise<WorkloadComparison[]> {
  const results = workloads.map((w) => ({ id: w.id, label: w.label, sides: w.sides.map((s): SideResult => ({ name: s.name, runs: [], errors: [] })) }));
  for (let round = 1; round <= options.rounds; round += 1) {
    for (const [i, workload] of workloads.entries()) {
      for (const [j, side] of workload.sides.entries()) {
        const slot = results[i]?.sides[j] as SideResult;
        try {
          const measured = await side.run(ctx);
          slot.runs.push(measured);
          options.onRun?.(workload, side.name, round, measured);
        } catch (error) {
          const failure = error instanceof Error ? error : new Error(String(error));
          slot.errors.push(failure.message);
          options.onRun?.(workload, side.name, round, failure);
        }
      }
    }
  }
  for (const result of results) {
    for (const side of result.sides) {
      const m = medianOf(side.runs);
      if (m) side.median = m;
    }
  }
  return results;
}
