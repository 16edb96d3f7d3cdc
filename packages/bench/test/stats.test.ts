import { describe, expect, it } from 'vitest';
import { distribute, jainIndex, spread, LatencyRecorder, percentile, summarizeLatency } from '../src/stats.js';

describe('bench statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile(samples, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
  });

  it('reports NaN percentiles for no samples', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(summarizeLatency([]).count).toBe(0);
  });

  it('summarizes latency with p50, p99, max and mean', () => {
    const summary = summarizeLatency([4, 1, 3, 2]);
    expect(summary).toEqual({ count: 4, p50: 2, p90: 4, p99: 4, p999: 4, max: 4, mean: 2.5 });
  });

  it('takes p99.9 by nearest rank: the 1,999th of 2,000 samples', () => {
    // 1..2000 shuffled: rank ceil(0.999 * 2000) = 1998 -> 1998; p99 rank 1980 -> 1980.
    const samples = Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 2000) + 1);
    const summary = summarizeLatency(samples);
    expect([summary.p50, summary.p99, summary.p999, summary.max]).toEqual([1000, 1980, 1998, 2000]);
  });

  it('gives the median and range of repeated figures, leaving out runs without one', () => {
    expect(spread([30, 10, 20, Number.NaN])).toEqual({ median: 20, min: 10, max: 30, n: 3 });
    expect(spread([]).median).toBeNaN();
  });

  it('gives Jain index 1 for equal service and 1/n when one queue gets everything', () => {
    expect(jainIndex([5, 5, 5, 5])).toBe(1);
    expect(jainIndex([20, 0, 0, 0])).toBe(0.25);
    expect(jainIndex([3, 1])).toBeCloseTo(16 / 20, 10);
  });

  it('splits messages evenly or Zipf-skewed with an exact total', () => {
    expect(distribute(10, 3, 'even')).toEqual([4, 3, 3]);
    const skewed = distribute(1000, 4, 'skewed');
    expect(skewed.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(skewed[0]).toBeGreaterThan(skewed[3] as number);
    expect(skewed).toEqual([480, 240, 160, 120]);
  });

  it('keeps every sample while under capacity, so percentiles are exact', () => {
    const recorder = new LatencyRecorder(10);
    for (const v of [5, 1, 4, 2, 3]) recorder.record(v);
    expect(recorder.summary()).toMatchObject({ count: 5, p50: 3, max: 5 });
  });

  it('holds at most its capacity while counting every sample', () => {
    const recorder = new LatencyRecorder(100);
    for (let i = 0; i < 10_000; i += 1) recorder.record(i % 10);
    const summary = recorder.summary();
    expect(summary.count).toBe(10_000);
    expect(summary.max).toBeLessThanOrEqual(9);
    expect(summary.p50).toBeGreaterThanOrEqual(3);
    expect(summary.p50).toBeLessThanOrEqual(6);
  });
});
