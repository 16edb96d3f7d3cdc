import { describe, expect, it } from 'vitest';
import { num, pollingTable, table } from '../src/format.js';
import type { PollingReport, PollingResult } from '../src/polling.js';
import { cycleFor } from '../src/polling-strategies.js';
import { definitions, renderPollingReport } from '../src/report-html.js';
import { barChart, escapeXml, niceMax } from '../src/svg-chart.js';

function result(cycle: string, mode: PollingResult['mode'], load: string, throughput: number, consumer: PollingResult['consumer'] = 'kelp'): PollingResult {
  return {
    consumer,
    cycle,
    mode,
    load,
    messages: 100,
    throughput,
    latencyMs: { count: 10, p50: 0.2, p90: 0.5, p99: 0.9, p999: 40, max: 40, mean: 0.3 },
    perQueue: [
      { queue: 0, count: 6, p50: 0.2, p99: 0.8, p999: 0.8 },
      { queue: 1, count: 4, p50: 0.3, p99: 40, p999: 40 },
    ],
    servedByQueue: [60, 40],
    jain: 0.8,
    jainMin: 0.7,
    jainWindows: 3,
    starvationMs: 12,
    commandsPerMsg: 0.05,
    roundTripsPerMsg: 0.02,
    redisCpuUsPerMsg: 4,
    cpuUsPerMsg: 9,
  };
}

const report: PollingReport = {
  url: 'redis://127.0.0.1:6379/0',
  queues: 2,
  messages: 100,
  rate: 1000,
  pacedMessages: 10,
  interval: 0.01,
  windowMs: 20,
  repeat: 1,
  warmup: 'none',
  startedAt: '2026-11-21T20:00:00.000Z',
  loads: [{ name: 'even', description: '2 queues, equal shares', queues: 2 }],
  results: [result('round_robin', 'blocking', 'even', 1000), result('round_robin', 'batched', 'even', 5000), result('sorted', 'batched', 'even', 4000), result('round_robin', 'brpop', 'even', 800, 'kombu')],
  runs: [],
  environment: { node: 'v20.0.0', broker: 'Redis 7.0.15', cores: '2' },
};

const count = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;

describe('bench report rendering', () => {
  it('draws one bar per finite value with its value in data attributes', () => {
    const svg = barChart({ title: 'T', unit: 'u', series: ['a', 'b'], groups: [{ label: 'g1', values: [1, 2] }, { label: 'g2', values: [3, Number.NaN] }] });
    expect(count(svg, /<rect class="bar"/g)).toBe(3);
    expect(svg).toContain('data-group="g2" data-value="3"');
  });

  it('titles both axes, the y axis with its unit', () => {
    const svg = barChart({ title: 'T', yTitle: 'messages per second', xTitle: 'strategy', unit: 'msgs/s', series: ['a'], groups: [{ label: 'g', values: [1] }] });
    expect(svg).toContain('class="axis-title y"');
    expect(svg).toContain('>messages per second (msgs/s)</text>');
    expect(svg).toContain('class="axis-title x"');
  });

  it('puts a log axis one tick per decade from below the smallest value, so a large p99 does not flatten the rest', () => {
    const svg = barChart({ title: 'L', unit: 'ms', scale: 'log', series: ['a'], groups: [{ label: 'g', values: [0.5, 1800] }] });
    // 0.1 .. 2000 rounded up to a nice 2000: ticks 0.1, 1, 10, 100, 1000, 10000 (5 decades).
    const ticks = [...svg.matchAll(/text-anchor="end" dominant-baseline="middle">([^<]*)</g)].map((m) => m[1]);
    expect(ticks).toEqual(['0.10', '1.0', '10.0', '100', '1000', '10k']);
    const heights = [...svg.matchAll(/<rect class="bar"[^>]* height="([\d.]+)"/g)].map((m) => Number(m[1]));
    // On a linear axis 0.5 of 2000 would be a 1-pixel bar; on the log axis it is a visible one.
    expect(heights[0]).toBeGreaterThan(20);
  });

  it('draws the min-max of repeated runs as a whisker', () => {
    const svg = barChart({ title: 'W', unit: 'u', series: ['a'], groups: [{ label: 'g', values: [10], ranges: [[8, 13]] }] });
    expect(svg).toContain('class="whisker" data-series="a" data-group="g" data-min="8" data-max="13"');
  });

  it('rounds axis tops to 1, 2 or 5 times a power of ten', () => {
    expect([niceMax(0.7), niceMax(130), niceMax(4100), niceMax(0)]).toEqual([1, 200, 5000, 1]);
  });

  it('escapes markup in labels', () => {
    expect(escapeXml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  });

  it('renders one chart per question for each load, with a bar for each measured row', () => {
    const html = renderPollingReport(report, 'kelp bench polling redis://x');
    expect(count(html, /<svg /g)).toBe(7);
    // throughput, Jain, starvation, Redis CPU, consumer CPU: 4 rows each; latency: 3 bars per row;
    // Redis cost: commands and round trips per row.
    expect(count(html, /<rect class="bar"/g)).toBe(5 * 4 + 3 * 4 + 2 * 4);
    expect(html).toContain('kelp bench polling redis://x');
    expect(html).toContain('data-group="kombu"');
    expect(html).not.toMatch(/<script|<link|\ssrc=|\shref=|@import/);
  });

  it('states the environment and defines every metric it shows', () => {
    const html = renderPollingReport(report);
    for (const [key, value] of Object.entries(report.environment ?? {})) expect(html).toContain(`<dt>${key}</dt><dd>${value}</dd>`);
    for (const [name] of definitions(20)) expect(html).toContain(`<dt>${escapeXml(name)}</dt>`);
    expect(html).toContain('fixed windows of 20 ms');
  });

  it('breaks latency down per queue', () => {
    const html = renderPollingReport(report);
    expect(html).toContain('<table class="per-queue">');
    expect(html).toContain('0.3 / 40 / 40 ms<br><span class="note">4 paced, 40 drained</span>');
  });

  it('formats numbers to three significant digits with separators', () => {
    expect([num(123456.7), num(0.01234), num(undefined), num(Number.NaN), num(12.345), num(null)]).toEqual(['123,457', '0.0123', '-', '-', '12.3', '-']);
  });

  it('aligns table columns', () => {
    expect(table(['<name', 'n'], [['a', '1'], ['bbb', '22']])).toBe('name   n\n----  --\na      1\nbbb   22');
  });

  it('lists failed polling configurations with their reason', () => {
    const text = pollingTable([{ ...result('priority', 'interval', 'skewed', 0), error: 'boom' }]);
    expect(text).toContain('failed: boom');
  });

  it('shows the median with its min-max when a row ran more than once', () => {
    const text = pollingTable([{ ...result('priority', 'batched', 'even', 2000), repeats: 3, spread: { throughput: { median: 2000, min: 1500, max: 2600, n: 3 } } }]);
    expect(text).toContain('2,000 (1,500-2,600)');
  });
});

describe('interval poller cycle (the registry strategies)', () => {
  const names = ['q2', 'q0', 'q1'];

  it('moves the queue that delivered to the back under round_robin', () => {
    const cycle = cycleFor('round_robin', names);
    cycle.rotate('q2');
    expect(cycle.consume()).toEqual(['q0', 'q1', 'q2']);
  });

  it('keeps consume order under priority', () => {
    const cycle = cycleFor('priority', names);
    cycle.rotate('q2');
    expect(cycle.consume()).toEqual(names);
  });

  it('orders by queue name under sorted', () => {
    expect(cycleFor('sorted', names).consume()).toEqual(['q0', 'q1', 'q2']);
  });
});
