/**
 * Plain-text tables for the terminal: the workload table of `kelp bench` and the strategy table
 * of `kelp bench polling`. Numbers are rounded to what a reader can compare at a glance.
 */
import type { WorkloadResult } from './measure.js';
import type { PollingResult } from './polling.js';

/** Formats a number with at most `digits` significant digits and thousands separators; '-' for missing. */
export function num(value: number | undefined, digits = 3): string {
  if (value === undefined || Number.isNaN(value)) return '-';
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

export function pollingTable(results: readonly PollingResult[]): string {
  const headers = ['<load', '<cycle', '<mode', 'msgs/s', 'p50 ms', 'p99 ms', 'Jain', 'windows', 'starved ms', 'cmds/msg', 'trips/msg', 'CPU us/msg', '<note'];
  const rows = results.map((r) =>
    r.error
      ? [r.load, r.cycle, r.mode, '-', '-', '-', '-', '-', '-', '-', '-', '-', `failed: ${r.error}`]
      : [
          r.load,
          r.cycle,
          r.mode,
          num(r.throughput),
          num(r.latencyMs?.p50),
          num(r.latencyMs?.p99),
          num(r.jain, 2),
          String(r.jainWindows),
          num(r.starvationMs),
          num(r.commandsPerMsg),
          num(r.roundTripsPerMsg),
          num(r.cpuUsPerMsg),
          '',
        ],
  );
  return table(headers, rows);
}
