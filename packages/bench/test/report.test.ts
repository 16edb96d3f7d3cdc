import { describe, expect, it } from 'vitest';
import { num, pollingTable, table } from '../src/format.js';
import { GetCycle, type PollingReport, type PollingResult } from '../src/polling.js';
import { renderPollingReport } from '../src/report-html.js';
import { barChart, escapeXml, niceMax } from '../src/svg-chart.js';

function result(cycle: PollingResult['cycle'], mode: PollingResult['mode'], load: PollingResult['load'], throughput: number): PollingResult {
  return {
    cycle,
    mode,
    load,
    messages: 100,
    throughput,
    latencyMs: { count: 10, p50: 0.2, p90: 0.5, p99: 0.9, max: 1, mean: 0.3 },
    jain: 0.8,
    jainMin: 0.7, jainWindows: 3, starvationMs: 12,
    commandsPerMsg: 0.05,
    roundTripsPerMsg: 0.02,
    cpuUsPerMsg: 9,
  };
}

const report: PollingReport = {
  url: 'redis://127.0.0.1:6379/0',
  queues: 4,
  messages: 100,
  rate: 1000,
  interval: 0.01,
  windowMs: 20,
  startedAt: '2026-11-21T20:00:00.000Z',
  results: [result('round_robin', 'blocking', 'even', 1000), result('round_robin', 'batched', 'even', 5000), result('sorted', 'batched', 'even', 4000)],
};

const count = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;

describe('bench report rendering', () => {
  it('draws one bar per finite value with its value in data attributes', () => {
    const svg = barChart({ title: 'T', unit: 'u', series: ['a', 'b'], groups: [{ label: 'g1', values: [1, 2] }, { label: 'g2', values: [3, Number.NaN] }] });
    expect(count(svg, /<rect class="bar"/g)).toBe(3);
    expect(svg).toContain('data-group="g2" data-value="3"');
  });

  it('rounds axis tops to 1, 2 or 5 times a power of ten', () => {
    expect([niceMax(0.7), niceMax(130), niceMax(4100), niceMax(0)]).toEqual([1, 200, 5000, 1]);
  });

  it('escapes markup in labels', () => {
    expect(escapeXml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  });

  it('renders six charts per load with a bar for each measured configuration', () => {
    const html = renderPollingReport(report, 'kelp bench polling redis://x');
    expect(count(html, /<svg /g)).toBe(6);
    // throughput, Jain, wait, commands, CPU: 3 bars each; latency: 2 bars (p50, p99) per configuration.
    expect(count(html, /<rect class="bar"/g)).toBe(5 * 3 + 3 * 2);
    expect(html).toContain('kelp bench polling redis://x');
    expect(html).not.toMatch(/<script|<link|\ssrc=|\shref=|@import/);
  });

  it('formats numbers to three significant digits with separators', () => {
    expect([num(123456.7), num(0.01234), num(undefined), num(Number.NaN), num(12.345)]).toEqual(['123,457', '0.0123', '-', '-', '12.3']);
  });

  it('aligns table columns', () => {
    expect(table(['<name', 'n'], [['a', '1'], ['bbb', '22']])).toBe('name   n\n----  --\na      1\nbbb   22');
  });

  it('lists failed polling configurations with their reason', () => {
    const text = pollingTable([{ ...result('priority', 'interval', 'skewed', 0), error: 'boom' }]);
    expect(text).toContain('failed: boom');
  });
});

describe('interval poller cycle', () => {
  const names = ['q2', 'q0', 'q1'];

  it('moves the queue that delivered to the back under round_robin', () => {
    const cycle = new GetCycle('round_robin', names, [0, 1, 2]);
    cycle.rotate(0);
    expect(cycle.current).toEqual([1, 2, 0]);
  });

  it('keeps consume order under priority', () => {
    const cycle = new GetCycle('priority', names, [0, 1, 2]);
    cycle.rotate(0);
    expect(cycle.current).toEqual([0, 1, 2]);
  });

  it('orders by queue name under sorted', () => {
    expect(new GetCycle('sorted', names, [0, 1, 2]).current).toEqual([1, 2, 0]);
  });
});
