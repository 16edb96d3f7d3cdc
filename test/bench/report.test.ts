/**
 * The polling report must be something a person can open: Chromium parses it, and the charts
 * are drawn with the measured data. Checked on the DOM Chromium serializes (bars, their values)
 * and on a screenshot (pixels of each series colour).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinLoad } from '../../packages/bench/src/polling-loads.js';
import { runPollingBench, type PollingReport, type PollingResult } from '../../packages/bench/src/polling.js';
import { renderPollingReport } from '../../packages/bench/src/report-html.js';
import { PALETTE } from '../../packages/bench/src/svg-chart.js';
import { dumpDom, screenshot } from './chromium.js';
import { countColour, decodePng } from './png.js';

const dir = mkdtempSync(join(tmpdir(), 'kelp-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cycles = ['round_robin', 'priority', 'sorted'] as const;
const modes = ['blocking', 'batched', 'interval'] as const;
const loads = ['skewed', 'even'] as const;

/** 18 configurations with distinct, recognisable values (throughput = 1000 * (index + 1)). */
function syntheticReport(): PollingReport {
  const results: PollingResult[] = [];
  for (const load of loads) {
    for (const cycle of cycles) {
      for (const mode of modes) {
        const i = results.length;
        results.push({
          consumer: 'kelp',
          cycle,
          mode,
          load,
          messages: 1000,
          throughput: 1000 * (i + 1),
          // The interval p99 is 100x the others: the log axis must keep the rest visible.
          latencyMs: { count: 100, p50: 0.1 + i / 100, p90: 0.5, p99: mode === 'interval' ? 1800 : 1 + i / 10, p999: 2000, max: 3000, mean: 0.2 },
          perQueue: [{ queue: 0, count: 50, p50: 0.1, p99: 1, p999: 1 }],
          servedByQueue: [1000],
          jain: 1 / (1 + (i % 3)),
          jainMin: 0.3,
          jainWindows: 4,
          starvationMs: 5 + i,
          commandsPerMsg: 0.05 * (i + 1),
          roundTripsPerMsg: 0.01 * (i + 1),
          redisCpuUsPerMsg: 3 + i,
          cpuUsPerMsg: 10 + i,
          repeats: 3,
          spread: { throughput: { median: 1000 * (i + 1), min: 900 * (i + 1), max: 1100 * (i + 1), n: 3 } },
        });
      }
    }
  }
  return {
    url: 'redis://127.0.0.1:6379/0',
    queues: 10,
    messages: 1000,
    rate: 1000,
    pacedMessages: 100,
    interval: 0.01,
    windowMs: 20,
    repeat: 3,
    warmup: 'none',
    startedAt: '2026-11-21T20:00:00.000Z',
    loads: loads.map((name) => ({ name, description: name, queues: 10 })),
    results,
    runs: [],
    environment: { node: process.version, broker: 'Redis 7.0.15', cores: '2' },
  };
}

interface Bar {
  series: string;
  group: string;
  value: number;
}

/** The bars of each chart in the serialized DOM, keyed by the chart's title. */
function barsByChart(dom: string): Map<string, Bar[]> {
  const charts = new Map<string, Bar[]>();
  for (const part of dom.split('<svg').slice(1)) {
    const title = /aria-label="([^"]*)"/.exec(part)?.[1] ?? '';
    const svg = part.slice(0, part.indexOf('</svg>'));
    const bars = [...svg.matchAll(/<rect class="bar" data-series="([^"]*)" data-group="([^"]*)" data-value="([^"]*)"/g)].map((m) => ({
      series: m[1] as string,
      group: m[2] as string,
      value: Number(m[3]),
    }));
    charts.set(title.replace(/&apos;|&#39;/g, "'"), bars);
  }
  return charts;
}

describe('polling report in headless Chromium', () => {
  const report = syntheticReport();
  const file = join(dir, 'synthetic.html');
  writeFileSync(file, renderPollingReport(report, 'kelp bench polling redis://127.0.0.1:6379/0'));

  it('parses into one chart per question for each load, with a bar per configuration and metric', async () => {
    const charts = barsByChart(await dumpDom(file));
    expect(charts.size).toBe(14);
    for (const load of loads) {
      expect(charts.get(`Which is fastest? Throughput of a backlog drain, ${load} load`)).toHaveLength(9);
      expect(charts.get(`How long does a message wait? Latency p50 / p99 / p99.9, ${load} load`)).toHaveLength(27);
      expect(charts.get(`Which strategy is fairest on this load? Jain's index over 20 ms windows, ${load} load`)).toHaveLength(9);
      expect(charts.get(`Does any queue starve? Longest time a non-empty queue went unserved, ${load} load`)).toHaveLength(9);
      expect(charts.get(`What does each cost Redis? Commands and round trips per message, ${load} load`)).toHaveLength(18);
      expect(charts.get(`What does each cost Redis? Server CPU per message, ${load} load`)).toHaveLength(9);
      expect(charts.get(`What does each cost the consumer? Consumer CPU per message, ${load} load`)).toHaveLength(9);
    }
  });

  it('keeps small latencies visible next to a large p99 on the log axis', async () => {
    const dom = await dumpDom(file);
    const latency = dom.split('<svg').find((part) => part.includes('How long does a message wait?')) ?? '';
    const heights = [...latency.matchAll(/<rect class="bar"[^>]*data-value="([^"]*)"[^>]* height="([\d.]+)"/g)].map((m) => ({ value: Number(m[1]), height: Number(m[2]) }));
    const smallest = heights.reduce((a, b) => (b.value < a.value ? b : a));
    // 0.1 ms next to 2,000 ms: on a linear axis that bar would be under a pixel.
    expect(smallest.value).toBeCloseTo(0.1, 5);
    expect(smallest.height).toBeGreaterThan(10);
    expect(latency).toContain('log scale');
  });

  it('draws the min-max of repeated runs as whiskers', async () => {
    const dom = await dumpDom(file);
    expect(dom.match(/<path class="whisker"/g)?.length).toBe(18);
  });

  it('carries the measured values on the bars, grouped by cycle with one series per mode', async () => {
    const charts = barsByChart(await dumpDom(file));
    const even = charts.get('Which is fastest? Throughput of a backlog drain, even load') ?? [];
    expect(even.map((b) => b.value)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18].map((n) => n * 1000));
    expect(even.map((b) => `${b.group}/${b.series}`).slice(0, 3)).toEqual(['round_robin/blocking', 'round_robin/batched', 'round_robin/interval']);
    const latency = charts.get('How long does a message wait? Latency p50 / p99 / p99.9, skewed load') ?? [];
    expect(latency.slice(0, 3)).toEqual([
      { series: 'p50', group: 'round_robin blocking', value: 0.1 },
      { series: 'p99', group: 'round_robin blocking', value: 1 },
      { series: 'p99.9', group: 'round_robin blocking', value: 2000 },
    ]);
  });

  it('draws bars in every series colour', async () => {
    const png = decodePng(await screenshot(file, 1280, 5200));
    expect(png.width).toBe(1280);
    for (const colour of PALETTE.slice(0, 3)) expect(countColour(png, colour)).toBeGreaterThan(2000);
  });

  it('renders a report measured on memory:// with every configuration charted', async () => {
    const measured = await runPollingBench({
      url: 'memory://',
      loads: [builtinLoad('skewed', 3), builtinLoad('even', 3)],
      messages: 60,
      rate: 2000,
      pacedMessages: 20,
      interval: 0.002,
      windowMs: 20,
      timeoutMs: 20_000,
    });
    expect(measured.results.filter((r) => r.error).map((r) => r.error)).toEqual([]);
    const measuredFile = join(dir, 'measured.html');
    writeFileSync(measuredFile, renderPollingReport(measured));
    const charts = barsByChart(await dumpDom(measuredFile));
    // memory:// has no Redis counters, so the commands charts say "no data" and have no bars.
    expect(charts.get('What does each cost Redis? Commands and round trips per message, even load')).toEqual([]);
    const throughput = charts.get('Which is fastest? Throughput of a backlog drain, skewed load') ?? [];
    expect(throughput).toHaveLength(9);
    for (const bar of throughput) expect(bar.value).toBeGreaterThan(0);
  });
});
