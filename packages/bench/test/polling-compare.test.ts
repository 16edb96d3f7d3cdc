import { describe, expect, it } from 'vitest';
import { compareFigure, comparePollingReports } from '../src/polling-compare.js';
import { medianOf, type PollingReport, type PollingResult } from '../src/polling.js';

function run(throughput: number, p99: number): PollingResult {
  return {
    consumer: 'kelp',
    cycle: 'round_robin',
    mode: 'batched',
    load: 'even',
    messages: 100,
    throughput,
    latencyMs: { count: 10, p50: 1, p90: 2, p99, p999: p99, max: p99, mean: 1 },
    jain: 0.9,
    jainMin: 0.8,
    jainWindows: 4,
    starvationMs: 10,
    cpuUsPerMsg: 20,
  };
}

function reportOf(results: PollingResult[]): PollingReport {
  return { url: 'redis://x', queues: 2, messages: 100, rate: 1000, pacedMessages: 10, interval: 0.01, windowMs: 20, repeat: 3, warmup: 'none', startedAt: 't', loads: [], results, runs: [] };
}

describe('repeats and A/B comparison', () => {
  it('takes the median of each figure with its min and max', () => {
    const row = medianOf([run(1000, 5), run(3000, 1), run(2000, 9)]);
    expect(row.throughput).toBe(2000);
    expect(row.latencyMs?.p99).toBe(5);
    expect(row.spread?.throughput).toEqual({ median: 2000, min: 1000, max: 3000, n: 3 });
    expect(row.repeats).toBe(3);
  });

  it('finds no difference beyond the noise when a run is compared with itself', () => {
    const report = reportOf([medianOf([run(1000, 5), run(3000, 1), run(2000, 9)])]);
    const comparison = comparePollingReports(report, JSON.parse(JSON.stringify(report)) as PollingReport);
    const verdicts = new Set(comparison.rows.flatMap((r) => r.figures.map((f) => f.verdict)));
    expect([...verdicts].filter((v) => v !== 'missing')).toEqual(['within noise']);
    expect(comparison.rows[0]?.figures.find((f) => f.figure === 'throughput')?.changePct).toBe(0);
  });

  it('calls a change better or worse only when the ranges do not overlap', () => {
    const a = { median: 1000, min: 900, max: 1100, n: 3 };
    expect(compareFigure('throughput', a, { median: 1500, min: 1400, max: 1600, n: 3 }).verdict).toBe('better');
    expect(compareFigure('p99', a, { median: 1500, min: 1400, max: 1600, n: 3 }).verdict).toBe('worse');
    expect(compareFigure('throughput', a, { median: 1150, min: 1050, max: 1300, n: 3 }).verdict).toBe('within noise');
    expect(compareFigure('throughput', { median: 1000, min: 1000, max: 1000, n: 1 }, { median: 1500, min: 1500, max: 1500, n: 1 }).verdict).toBe('no spread');
    expect(compareFigure('throughput', a, { median: 1500, min: 1400, max: 1600, n: 3 }).changePct).toBe(50);
  });
});

describe('lab rows', () => {
  it('crosses strategies, modes and wake-ups, runs interval once, and puts the baselines last', async () => {
    const { rowsOf } = await import('../src/polling.js');
    const rows = rowsOf({ cycles: ['round_robin', 'mine'], modes: ['batched', 'interval'], tracking: ['on', 'off'], baselines: ['kombu', 'raw'] });
    expect(rows.map((r) => `${r.consumer}/${r.cycle}/${r.mode}/${r.tracking ?? 'on'}`)).toEqual([
      'kelp/round_robin/batched/on',
      'kelp/round_robin/batched/off',
      'kelp/round_robin/interval/on',
      'kelp/mine/batched/on',
      'kelp/mine/batched/off',
      'kelp/mine/interval/on',
      'kombu/round_robin/brpop/on',
      'raw/round_robin/brpop/on',
    ]);
  });
});

describe('repeats on memory://', () => {
  it('alternates the row order between repeats and reports the median of each row', async () => {
    const { runPollingBench } = await import('../src/polling.js');
    const { builtinLoad } = await import('../src/polling-loads.js');
    const order: string[] = [];
    const report = await runPollingBench({
      url: 'memory://',
      loads: [builtinLoad('even', 2)],
      cycles: ['round_robin', 'sorted'],
      modes: ['batched'],
      messages: 40,
      rate: 2000,
      pacedMessages: 4,
      interval: 0.002,
      windowMs: 5,
      timeoutMs: 5000,
      repeat: 2,
      warmup: false,
      onResult: (r) => order.push(r.cycle),
    });
    expect(order).toEqual(['round_robin', 'sorted', 'sorted', 'round_robin']);
    expect(report.runs).toHaveLength(4);
    expect(report.results.map((r) => [r.cycle, r.repeats, r.error])).toEqual([
      ['round_robin', 2, undefined],
      ['sorted', 2, undefined],
    ]);
  });
});
