/**
 * The self-contained HTML report of `kelp bench polling --report path.html`: the parameters, the
 * environment, the definition of every metric, the full table and, for each load, one chart per
 * question (which is fastest, how long messages wait, which is fairest, does a queue starve, what
 * each costs Redis and the consumer) plus the per-queue breakdown. Repeated runs show as
 * whiskers (min-max) on the median bars. Also the A/B page of `--compare`. Inline CSS and SVG
 * only; it opens from disk with no network.
 */
import { figureLabel, num, rowLabel, withSpread } from './format.js';
import type { PollingComparison } from './polling-compare.js';
import type { Figure, PollingReport, PollingResult } from './polling.js';
import { barChart, escapeXml, type ChartGroup } from './svg-chart.js';

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/** The chart group of a row: its strategy, or the baseline's name. */
const groupOf = (r: PollingResult): string => (r.consumer === 'kelp' ? r.cycle : r.consumer);
/** The chart series of a row: its mode (`brpop` for the baselines). */
const seriesOf = (r: PollingResult): string => (r.tracking === 'off' ? `${r.mode}, no tracking` : r.mode);

function rangeOf(r: PollingResult, figure: Figure): [number, number] | undefined {
  const s = r.spread?.[figure];
  return s && s.n > 1 ? [s.min, s.max] : undefined;
}

/** Groups are strategies (and baselines), series are modes; `pick` reads the charted value. */
function chartGroups(results: readonly PollingResult[], pick: (r: PollingResult) => number | undefined, figure?: Figure): { series: string[]; groups: ChartGroup[] } {
  const groups = unique(results.map(groupOf));
  const series = unique(results.map(seriesOf));
  return {
    series,
    groups: groups.map((label) => {
      const rows = series.map((s) => results.find((r) => groupOf(r) === label && seriesOf(r) === s && !(r.error && !r.spread)));
      const group: ChartGroup = { label, values: rows.map((r) => (r ? pick(r) : undefined)) };
      if (figure) group.ranges = rows.map((r) => (r ? rangeOf(r, figure) : undefined));
      return group;
    }),
  };
}

/** Latency: one group per row, series p50 / p99 / p99.9, on a log axis. */
function latencyChart(load: string, results: readonly PollingResult[]): string {
  const ok = results.filter((r) => r.latencyMs && !(r.error && !r.spread));
  const figures = ['p50', 'p99', 'p999'] as const;
  return barChart({
    title: `How long does a message wait? Latency p50 / p99 / p99.9, ${load} load`,
    yTitle: 'publish to delivery',
    xTitle: 'strategy and mode',
    unit: 'ms',
    scale: 'log',
    width: Math.max(900, 110 * ok.length),
    series: ['p50', 'p99', 'p99.9'],
    groups: ok.map((r) => ({
      label: rowLabel(r),
      values: figures.map((f) => r.latencyMs?.[f]),
      ranges: figures.map((f) => rangeOf(r, f)),
    })),
  });
}

/** Redis cost: commands and round trips per message, one group per row. */
function redisCostChart(load: string, results: readonly PollingResult[]): string {
  const ok = results.filter((r) => r.commandsPerMsg !== undefined && !(r.error && !r.spread));
  return barChart({
    title: `What does each cost Redis? Commands and round trips per message, ${load} load`,
    yTitle: 'per message drained',
    xTitle: 'strategy and mode',
    unit: 'count',
    scale: 'log',
    width: Math.max(900, 110 * ok.length),
    series: ['commands', 'round trips'],
    groups: ok.map((r) => ({
      label: rowLabel(r),
      values: [r.commandsPerMsg, r.roundTripsPerMsg],
      ranges: [rangeOf(r, 'commandsPerMsg'), rangeOf(r, 'roundTripsPerMsg')],
    })),
  });
}

function perQueueTable(results: readonly PollingResult[]): string {
  const queues = Math.max(0, ...results.map((r) => r.perQueue?.length ?? 0));
  if (queues === 0) return '';
  const head = ['row', ...Array.from({ length: queues }, (_, q) => `q${q}`)];
  const rows = results
    .filter((r) => r.perQueue)
    .map((r) => {
      const cells = (r.perQueue ?? []).map((q, i) => `${num(q.p50)} / ${num(q.p99)} / ${num(q.p999)} ms<br><span class="note">${q.count} paced, ${r.servedByQueue?.[i] ?? '-'} drained</span>`);
      return `<tr><td>${escapeXml(rowLabel(r))}</td>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
    });
  return `<h3>Per queue: latency p50 / p99 / p99.9 in the paced phase, messages served</h3><table class="per-queue"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function loadSection(load: { name: string; description: string }, results: readonly PollingResult[], windowMs: number): string {
  const chart = (title: string, yTitle: string, unit: string, pick: (r: PollingResult) => number | undefined, figure: Figure, extra: Partial<Parameters<typeof barChart>[0]> = {}): string => {
    const { series, groups } = chartGroups(results, pick, figure);
    return barChart({ title: `${title}, ${load.name} load`, yTitle, xTitle: 'strategy (bars: mode)', unit, series, groups, ...extra });
  };
  const charts = [
    chart('Which is fastest? Throughput of a backlog drain', 'messages drained per second', 'msgs/s', (r) => r.throughput, 'throughput'),
    latencyChart(load.name, results),
    chart(`Which strategy is fairest on this load? Jain's index over ${windowMs} ms windows`, "Jain's index", '1 = equal service', (r) => r.jain, 'jain', {
      reference: { value: 1, label: 'perfectly fair' },
    }),
    chart('Does any queue starve? Longest time a non-empty queue went unserved', 'starvation', 'ms', (r) => r.starvationMs, 'starvationMs', { scale: 'log' }),
    redisCostChart(load.name, results),
    chart('What does each cost Redis? Server CPU per message', 'Redis CPU (user + sys)', 'us', (r) => r.redisCpuUsPerMsg, 'redisCpuUsPerMsg'),
    chart('What does each cost the consumer? Consumer CPU per message', 'consumer process CPU (user + sys)', 'us', (r) => r.cpuUsPerMsg, 'cpuUsPerMsg'),
  ];
  return `<section class="load" data-load="${escapeXml(load.name)}"><h2>${escapeXml(load.name)} load</h2><p class="note">${escapeXml(load.description)}</p>${charts.map((c) => `<figure>${c}</figure>`).join('')}${perQueueTable(results)}</section>`;
}

function resultsTable(results: readonly PollingResult[]): string {
  const head = ['load', 'row', 'msgs/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'Jain', 'Jain min', 'windows', 'starved ms', 'cmds/msg', 'trips/msg', 'Redis CPU us/msg', 'CPU us/msg', 'runs', 'error'];
  const rows = results.map((r) =>
    [
      r.load,
      rowLabel(r),
      withSpread(r, 'throughput', r.throughput),
      withSpread(r, 'p50', r.latencyMs?.p50),
      withSpread(r, 'p99', r.latencyMs?.p99),
      withSpread(r, 'p999', r.latencyMs?.p999),
      withSpread(r, 'jain', r.jain, 2),
      withSpread(r, 'jainMin', r.jainMin, 2),
      String(r.jainWindows),
      withSpread(r, 'starvationMs', r.starvationMs),
      withSpread(r, 'commandsPerMsg', r.commandsPerMsg),
      withSpread(r, 'roundTripsPerMsg', r.roundTripsPerMsg),
      withSpread(r, 'redisCpuUsPerMsg', r.redisCpuUsPerMsg),
      withSpread(r, 'cpuUsPerMsg', r.cpuUsPerMsg),
      String(r.repeats ?? 1),
      r.error ?? '',
    ]
      .map((cell) => `<td>${escapeXml(cell)}</td>`)
      .join(''),
  );
  return `<table class="results"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r}</tr>`).join('')}</tbody></table>`;
}

/** Every metric, as the report defines it. */
export function definitions(windowMs: number): Array<[string, string]> {
  return [
    ['throughput', 'The rate the prefilled backlog was delivered at: (messages - 1) / (last delivery - first delivery), msgs/s, on the consumer\'s own clock, so its connection set-up is left out.'],
    ['latency p50 / p99 / p99.9', 'Paced phase: the time from the producer stamping a message (just before publishing it) to the consumer receiving it, in ms, by nearest rank, overall and per queue. p99.9 of fewer than 1,000 samples is their maximum.'],
    ["Jain's index", `The drain, from its first delivery, is cut into fixed windows of ${windowMs} ms. A window counts when at least two queues held messages through all of it; its index is (&Sigma;x)&sup2; / (n &middot; &Sigma;x&sup2;) over the deliveries x of those n queues in it: 1 = equal service, 1/n = one queue served. The figure is the mean over counted windows weighted by their deliveries; "Jain min" is the lowest window, "windows" how many counted (0: no window had two busy queues, so nothing to judge).`],
    ['starvation', 'The longest time any queue that held messages went without a delivery during the drain (ms), from the drain\'s first delivery on: from its previous delivery, or from the moment it became non-empty, to its next delivery.'],
    ['cmds/msg, trips/msg', 'Redis INFO deltas around the drain divided by its messages: total_commands_processed (commands inside Lua scripts count too) and total_reads_processed (a pipeline arrives as one read, so this is close to round trips). They include every client of the server, so run on a Redis nothing else uses.'],
    ['Redis CPU us/msg', 'INFO cpu used_cpu_user + used_cpu_sys of the server, delta over the drain, per message (us). Same caveat: the whole server.'],
    ['CPU us/msg', 'User + system CPU of the consumer process over the drain, per message (us): this process for kelp and raw BRPOP (the producer runs in a process of its own on Redis), the Python process for Kombu.'],
    ['median (min-max)', 'With --repeat N every row runs N times, the row order alternating from one repeat to the next; each figure is the median of the N runs with their minimum and maximum, drawn as whiskers.'],
  ];
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:12px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}table.results td:nth-child(-n+2){text-align:left}table.per-queue td:first-child{text-align:left}figure{margin:12px 0;overflow-x:auto}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}
dt{font-weight:600}.note{color:#555;font-size:12px}.better{color:#176b2c}.worse{color:#a4161a}`;

const dl = (pairs: ReadonlyArray<[string, string]>, raw = false): string => `<dl>${pairs.map(([k, v]) => `<dt>${escapeXml(k)}</dt><dd>${raw ? v : escapeXml(v)}</dd>`).join('')}</dl>`;

/** Renders the whole report as one HTML document. */
export function renderPollingReport(report: PollingReport, commandLine?: string): string {
  const params: Array<[string, string]> = [
    ['broker', report.url],
    ['messages per drain', String(report.messages)],
    ['paced phase', report.rate > 0 ? `${report.pacedMessages ?? '-'} messages at ${report.rate} msgs/s (unless the load file gives rates)` : `${report.pacedMessages ?? '-'} messages, the producer saturating`],
    ['interval polling sleep', `${report.interval} s`],
    ['fairness window', `${report.windowMs} ms`],
    ['runs per row', `${report.repeat ?? 1} (row order alternated between repeats)`],
    ['warm-up', report.warmup ?? '-'],
    ['started', report.startedAt],
  ];
  if (commandLine) params.push(['command', commandLine]);
  const environment = Object.entries(report.environment ?? {});
  const loads = report.loads ?? unique(report.results.map((r) => r.load)).map((name) => ({ name, description: '', queues: report.queues }));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kelp polling lab</title><style>${STYLE}</style></head>
<body><h1>kelp polling lab</h1>
<h2>Parameters</h2>${dl(params)}
${environment.length ? `<h2>Environment</h2>${dl(environment)}` : ''}
<h2>What is measured</h2>
<p class="note">Rows: kelp with a queue-order strategy (round_robin moves the queue that delivered to the back; priority keeps the consume order, queues handed over in reverse declaration order here; sorted orders by name; or one a module registered) in a mode:
blocking = one message per atomic pop, waiting for a key-change wake-up when empty; batched = up to 100 messages per atomic pop; both consume at prefetch 100;
interval = queue.get() in cycle order, sleeping after an empty cycle. Baselines: kombu = Python Kombu 5.2.4's own Redis consumer (BRPOP over all queues, round_robin, prefetch 100); raw = a bare BRPOP loop with no ack bookkeeping.
Each run: a producer in its own process prefills the backlog, the consumer drains it (throughput, fairness, starvation, costs), then the producer publishes a paced stream (latency).</p>
${dl(definitions(report.windowMs), true)}
<h2>Results</h2>
${resultsTable(report.results)}
${loads.map((load) => loadSection(load, report.results.filter((r) => r.load === load.name), report.windowMs)).join('\n')}
</body></html>
`;
}

/** The A/B page of `--compare`: both sides' environments and every figure with its verdict. */
export function renderComparisonReport(comparison: PollingComparison): string {
  const side = (name: string, s: PollingComparison['a']): string =>
    `<h2>${name}: ${escapeXml(s.file)}</h2>${dl([['started', s.startedAt], ['runs per row', String(s.repeat)], ...Object.entries(s.environment ?? {})])}`;
  const range = (s: { median: number; min: number; max: number; n: number } | undefined): string => (s ? (s.n > 1 ? `${num(s.median)} (${num(s.min)}-${num(s.max)})` : num(s.median)) : '-');
  const rows = comparison.rows.flatMap((row) =>
    row.figures
      .filter((f) => f.a || f.b)
      .map(
        (f) =>
          `<tr data-row="${escapeXml(row.key)}" data-figure="${f.figure}" data-verdict="${f.verdict}"><td>${escapeXml(row.label)}</td><td>${escapeXml(figureLabel(f.figure))}</td><td>${range(f.a)}</td><td>${range(f.b)}</td><td>${f.changePct === undefined ? '-' : `${f.changePct >= 0 ? '+' : ''}${num(f.changePct, 2)}%`}</td><td class="${f.verdict === 'better' ? 'better' : f.verdict === 'worse' ? 'worse' : ''}">${f.verdict}</td></tr>`,
      ),
  );
  const throughput = comparison.rows.map((row) => {
    const f = row.figures.find((x) => x.figure === 'throughput');
    return { label: row.label, values: [f?.a?.median, f?.b?.median], ranges: [f?.a && f.a.n > 1 ? ([f.a.min, f.a.max] as [number, number]) : undefined, f?.b && f.b.n > 1 ? ([f.b.min, f.b.max] as [number, number]) : undefined] };
  });
  const p99 = comparison.rows.map((row) => {
    const f = row.figures.find((x) => x.figure === 'p99');
    return { label: row.label, values: [f?.a?.median, f?.b?.median], ranges: [f?.a && f.a.n > 1 ? ([f.a.min, f.a.max] as [number, number]) : undefined, f?.b && f.b.n > 1 ? ([f.b.min, f.b.max] as [number, number]) : undefined] };
  });
  const width = Math.max(720, 110 * comparison.rows.length);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kelp polling lab: A/B</title><style>${STYLE}</style></head>
<body><h1>kelp polling lab: A/B comparison</h1>
<p class="note">A difference counts only when the two min-max ranges do not overlap; "within noise" when they do, "no spread" when a side ran once (run both with --repeat N to judge).</p>
${side('a', comparison.a)}${side('b', comparison.b)}
<figure>${barChart({ title: 'Throughput, a vs b', yTitle: 'messages drained per second', xTitle: 'load | row', unit: 'msgs/s', series: ['a', 'b'], groups: throughput, width })}</figure>
<figure>${barChart({ title: 'Latency p99, a vs b', yTitle: 'publish to delivery', xTitle: 'load | row', unit: 'ms', scale: 'log', series: ['a', 'b'], groups: p99, width })}</figure>
<table class="comparison"><thead><tr><th>row</th><th>figure</th><th>a</th><th>b</th><th>change</th><th>verdict</th></tr></thead><tbody>${rows.join('')}</tbody></table>
</body></html>
`;
}
