/**
 * The compare run as tables: every side of every cold workload with its median figures and its
 * ratio to the workload's first side (kelp), then the targets with met / MISSED.
 */
import { num, table } from '../format.js';
import type { WorkloadComparison } from './compare.js';
import type { TargetCheck } from './targets.js';

export const SIDE_HEADERS = ['<workload', '<side', 'msgs', 'msgs/s', 'kelp / side', 'CPU us/msg', 'peak RSS MiB', 'p50 ms', 'p99 ms', '<note'];

/** Rows of the workload table (strings, for the terminal or Markdown). */
export function sideRows(results: readonly WorkloadComparison[]): string[][] {
  return results.flatMap((r) => {
    const kelp = r.sides[0]?.median;
    return r.sides.map((side, i) => {
      const m = side.median;
      const label = i === 0 ? r.label : '';
      const note = side.errors.length > 0 ? `${side.errors.length} of ${side.errors.length + side.runs.length} runs failed: ${side.errors[0]}` : '';
      if (!m) return [label, side.name, '-', '-', '-', '-', '-', '-', '-', note];
      // A paced run's rate is the pace; only its latency compares.
      const vs = i > 0 && kelp && m.rate > 0 && !m.latencyMs ? `${num(kelp.rate / m.rate, 3)}x` : '';
      return [label, side.name, String(Math.round(m.messages)), num(m.rate), vs, num(m.cpuUsPerMsg), num(m.peakRssMiB), num(m.latencyMs?.p50), num(m.latencyMs?.p99), note];
    });
  });
}

export const TARGET_HEADERS = ['<target', '<goal', 'measured', '<verdict'];

export function targetRows(checks: readonly TargetCheck[]): string[][] {
  return checks.map((c) => [
    c.what,
    c.goal,
    c.value === undefined ? 'not measured' : c.unit === 'x' ? `${num(c.value, 3)}x` : `${num(c.value)} msgs/s`,
    c.met === undefined ? '-' : c.met ? 'met' : 'MISSED',
  ]);
}

export function coldTables(results: readonly WorkloadComparison[], checks: readonly TargetCheck[]): { workloads: string; targets: string } {
  return { workloads: table(SIDE_HEADERS, sideRows(results)), targets: table(TARGET_HEADERS, targetRows(checks)) };
}
