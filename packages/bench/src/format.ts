/**
 * Plain-text tables for the terminal: the workload table of `kelp bench` and the strategy table
 * of `kelp bench polling`. Numbers are rounded to what a reader can compare at a glance.
 */
import type { WorkloadResult } from './measure.js';
import type { PollingComparison } from './polling-compare.js';
import type { Figure, PollingResult } from './polling.js';
import type { Spread } from './stats.js';

/** Formats a number with at most `digits` significant digits and thousands separators; '-' for missing. */
export function num(value: number | null | undefined, digits = 3): string {
  // null: a NaN that went through JSON (a saved run read back by --compare).
  if (value === undefined || value === null || Number.isNaN(value)) return '-';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return '0';
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return value.toLocaleString('en-US', { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
}

/** Renders rows under headers; columns whose header starts with '<' are left-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const left = headers.map((h) => h.startsWith('<'));
  const titles = headers.map((h) => (h.startsWith('<') ? h.slice(1) : h));
  const widths = titles.map((t, i) => Math.max(t.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (left[i] ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(titles), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function workloadTable(results: readonly WorkloadResult[]): string {
  const headers = ['<workload', 'msgs', 'msgs/s', 'p50 ms', 'p99 ms', 'CPU us/msg', 'cmds/msg', 'trips/msg', 'RSS MiB', '<note'];
  const rows = results.map((r) => {
    if (r.error) return [r.label, '-', '-', '-', '-', '-', '-', '-', '-', `failed: ${r.error}`];
    const notes: string[] = [];
    const ratio = r.extra?.['vsOneQueue'];
    if (typeof ratio === 'number') notes.push(`${num(ratio, 2)}x of 1 queue`);
    if (r.extra?.['complete'] === false) notes.push('INCOMPLETE');
    const publishRate = r.extra?.['publishRate'];
    if (typeof publishRate === 'number') notes.push(`publish ${num(publishRate)}/s`);
    return [
      r.label,
      String(r.messages),
      num(r.rate),
      num(r.latencyMs?.p50),
      num(r.latencyMs?.p99),
      num(r.cpuUsPerMsg),
      num(r.commandsPerMsg),
      num(r.roundTripsPerMsg),
      num(r.peakRssMiB),
      notes.join('; '),
    ];
  });
  return table(headers, rows);
}

/** How a polling row is named: `round_robin batched`, `kombu BRPOP`, `raw BRPOP`. */
export function rowLabel(r: Pick<PollingResult, 'consumer' | 'cycle' | 'mode' | 'tracking'>): string {
  return r.consumer === 'kelp' ? `${r.cycle} ${r.mode}${r.tracking === 'off' ? ' (no tracking)' : ''}` : `${r.consumer} BRPOP`;
}

/** A median with its min-max when there were repeats: `1,234 (1,100-1,300)`. */
export function withSpread(r: PollingResult, figure: Figure, value: number | undefined, digits = 3): string {
  const s = r.spread?.[figure];
  if (!s || s.n < 2) return num(value, digits);
  return `${num(value, digits)} (${num(s.min, digits)}-${num(s.max, digits)})`;
}

export function pollingTable(results: readonly PollingResult[]): string {
  const headers = ['<load', '<consumer', 'msgs/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'Jain', 'windows', 'starved ms', 'cmds/msg', 'trips/msg', 'Redis CPU us/msg', 'CPU us/msg', '<note'];
  const rows = results.map((r) =>
    r.error && !r.spread
      ? [r.load, rowLabel(r), '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', `failed: ${r.error}`]
      : [
          r.load,
          rowLabel(r),
          withSpread(r, 'throughput', r.throughput),
          withSpread(r, 'p50', r.latencyMs?.p50),
          withSpread(r, 'p99', r.latencyMs?.p99),
          withSpread(r, 'p999', r.latencyMs?.p999),
          withSpread(r, 'jain', r.jain, 2),
          String(r.jainWindows),
          withSpread(r, 'starvationMs', r.starvationMs),
          withSpread(r, 'commandsPerMsg', r.commandsPerMsg),
          withSpread(r, 'roundTripsPerMsg', r.roundTripsPerMsg),
          withSpread(r, 'redisCpuUsPerMsg', r.redisCpuUsPerMsg),
          withSpread(r, 'cpuUsPerMsg', r.cpuUsPerMsg),
          r.error ?? '',
        ],
  );
  return table(headers, rows);
}

const FIGURE_LABELS: Record<Figure, string> = {
  throughput: 'msgs/s',
  p50: 'p50 ms',
  p99: 'p99 ms',
  p999: 'p99.9 ms',
  jain: 'Jain',
  jainMin: 'Jain min',
  starvationMs: 'starved ms',
  commandsPerMsg: 'cmds/msg',
  roundTripsPerMsg: 'trips/msg',
  redisCpuUsPerMsg: 'Redis CPU us/msg',
  cpuUsPerMsg: 'CPU us/msg',
};

export function figureLabel(figure: Figure): string {
  return FIGURE_LABELS[figure];
}

const range = (s: Spread | undefined): string => (s ? (s.n > 1 ? `${num(s.median)} (${num(s.min)}-${num(s.max)})` : num(s.median)) : '-');

/** The rows of `--compare`: each figure of each row, both sides with their range, the change and the verdict. */
export function comparisonTable(comparison: PollingComparison): string {
  const headers = ['<row', '<figure', 'a', 'b', 'change', '<verdict'];
  const rows: string[][] = [];
  for (const row of comparison.rows) {
    for (const f of row.figures) {
      if (f.verdict === 'missing' && !f.a && !f.b) continue;
      rows.push([row.label, figureLabel(f.figure), range(f.a), range(f.b), f.changePct === undefined ? '-' : `${f.changePct >= 0 ? '+' : ''}${num(f.changePct, 2)}%`, f.verdict]);
    }
  }
  return `a: ${comparison.a.file} (${comparison.a.startedAt}, ${comparison.a.repeat} run${comparison.a.repeat === 1 ? '' : 's'} per row)\nb: ${comparison.b.file} (${comparison.b.startedAt}, ${comparison.b.repeat} run${comparison.b.repeat === 1 ? '' : 's'} per row)\n${table(headers, rows)}`;
}
