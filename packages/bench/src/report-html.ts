/**
 * The self-contained HTML report of `kelp bench polling --report path.html`: the parameters, the
 * full table and, for each load, charts of throughput, latency, fairness, commands and CPU per
 * configuration. Inline CSS and SVG only; it opens from disk with no network.
 */
import { num } from './format.js';
import type { Cycle, Load, PollingReport, PollingResult, PollMode } from './polling.js';
import { barChart, escapeXml, type ChartGroup } from './svg-chart.js';

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/** Groups are cycles, series are poll modes; `pick` reads the charted value from a result. */
function chartGroups(results: readonly PollingResult[], cycles: readonly Cycle[], modes: readonly PollMode[], pick: (r: PollingResult) => number | undefined): ChartGroup[] {
  return cycles.map((cycle) => ({
    label: cycle,
    values: modes.map((mode) => {
      const result = results.find((r) => r.cycle === cycle && r.mode === mode && !r.error);
      return result ? pick(result) : undefined;
    }),
  }));
}

/** Latency has two bars per mode: groups are cycles, series are "<mode> p50" and "<mode> p99". */
function latencyChart(load: Load, results: readonly PollingResult[], cycles: readonly Cycle[], modes: readonly PollMode[]): string {
  const series = modes.flatMap((mode) => [`${mode} p50`, `${mode} p99`]);
  const groups = cycles.map((cycle) => ({
    label: cycle,
    values: modes.flatMap((mode) => {
      const result = results.find((r) => r.cycle === cycle && r.mode === mode && !r.error);
      return [result?.latencyMs?.p50, result?.latencyMs?.p99];
    }),
  }));
  return barChart({ title: `Latency p50 / p99, ${load} load`, unit: 'ms', series, groups });
}

function loadSection(load: Load, results: readonly PollingResult[], windowMs: number): string {
  const cycles = unique(results.map((r) => r.cycle));
  const modes = unique(results.map((r) => r.mode));
  const charts = [
    barChart({ title: `Throughput, ${load} load`, unit: 'msgs/s', series: modes, groups: chartGroups(results, cycles, modes, (r) => r.throughput) }),
    latencyChart(load, results, cycles, modes),
    barChart({
      title: `Fairness (Jain's index over ${windowMs} ms windows), ${load} load`,
      unit: '1 = equal service',
      series: modes,
      groups: chartGroups(results, cycles, modes, (r) => r.jain),
      reference: { value: 1, label: 'perfectly fair' },
    }),
    barChart({ title: `Starvation (longest a non-empty queue went unserved), ${load} load`, unit: 'ms', series: modes, groups: chartGroups(results, cycles, modes, (r) => r.starvationMs) }),
    barChart({ title: `Redis commands per message, ${load} load`, unit: 'commands', series: modes, groups: chartGroups(results, cycles, modes, (r) => r.commandsPerMsg) }),
    barChart({ title: `Consumer CPU per message, ${load} load`, unit: 'us', series: modes, groups: chartGroups(results, cycles, modes, (r) => r.cpuUsPerMsg) }),
  ];
  return `<section class="load" data-load="${escapeXml(load)}"><h2>${escapeXml(load)} load</h2>${charts.map((c) => `<figure>${c}</figure>`).join('')}</section>`;
}

function resultsTable(results: readonly PollingResult[]): string {
  const head = ['load', 'cycle', 'mode', 'msgs/s', 'p50 ms', 'p99 ms', 'Jain', 'Jain min', 'windows', 'starved ms', 'cmds/msg', 'trips/msg', 'CPU us/msg', 'error'];
  const rows = results.map((r) =>
    [r.load, r.cycle, r.mode, num(r.throughput), num(r.latencyMs?.p50), num(r.latencyMs?.p99), num(r.jain, 2), num(r.jainMin, 2), String(r.jainWindows), num(r.starvationMs), num(r.commandsPerMsg), num(r.roundTripsPerMsg), num(r.cpuUsPerMsg), r.error ?? '']
      .map((cell) => `<td>${escapeXml(cell)}</td>`)
      .join(''),
  );
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r}</tr>`).join('')}</tbody></table>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;font-size:13px;margin:12px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:nth-child(-n+3){text-align:left}figure{margin:12px 0}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}
dt{font-weight:600}.note{color:#555;font-size:13px}`;

/** Renders the whole report as one HTML document. */
export function renderPollingReport(report: PollingReport, commandLine?: string): string {
  const loads = unique(report.results.map((r) => r.load));
  const params: Array<[string, string]> = [
    ['broker', report.url],
    ['queues', String(report.queues)],
    ['messages per drain', String(report.messages)],
    ['paced rate', `${report.rate} msgs/s`],
    ['interval polling sleep', `${report.interval} s`],
    ['fairness window', `${report.windowMs} ms`],
    ['started', report.startedAt],
  ];
  if (commandLine) params.push(['command', commandLine]);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kelp polling strategies</title><style>${STYLE}</style></head>
<body><h1>kelp polling strategies</h1>
<dl>${params.map(([k, v]) => `<dt>${escapeXml(k)}</dt><dd>${escapeXml(v)}</dd>`).join('')}</dl>
<p class="note">Cycles: round_robin moves the queue that delivered to the back; priority keeps the consume order (queues handed over in reverse order here); sorted orders by name.
Modes: blocking = one message per atomic pop, waiting for a key-change wake-up when empty (Kombu's one-BRPOP-per-message shape); batched = up to 100 messages per atomic pop; both consume at prefetch 100;
interval = queue.get() in cycle order, sleeping after an empty cycle. Throughput, fairness, commands and CPU come from draining a prefilled backlog;
latency from a paced stream.
Jain's index: the drain is cut into fixed windows of ${report.windowMs} ms; a window counts when at least two queues held messages through all of it, and its index is (&Sigma;x)&sup2; / (n &Sigma;x&sup2;) over the deliveries x of those n queues in it (1 = equal service, 1/n = one queue served). The figure is the mean over counted windows weighted by their deliveries; "Jain min" is the lowest window, "windows" how many counted.
Starvation: the longest time any queue that held messages went without a delivery, over the drain.</p>
${resultsTable(report.results)}
${loads.map((load) => loadSection(load, report.results.filter((r) => r.load === load), report.windowMs)).join('\n')}
</body></html>
`;
}
