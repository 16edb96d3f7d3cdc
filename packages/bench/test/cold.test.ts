import { describe, expect, it } from 'vitest';
import { measurementOf, type Measurement } from '../src/cold/child.js';
import { medianOf, type WorkloadComparison } from '../src/cold/compare.js';
import { sideRows } from '../src/cold/report.js';
import { checkTargets } from '../src/cold/targets.js';

const m = (rate: number, extra: Partial<Measurement> = {}): Measurement => ({ messages: 100, seconds: 100 / rate, rate, ...extra });

function comparison(id: string, sides: Record<string, Measurement | undefined>): WorkloadComparison {
  return { id, label: id, sides: Object.entries(sides).map(([name, median]) => ({ name, runs: median ? [median] : [], errors: median ? [] : ['boom'], ...(median ? { median } : {}) })) };
}

describe('cold compare figures', () => {
  it('takes the median of each metric on its own', () => {
    const runs = [m(100, { cpuUsPerMsg: 30, latencyMs: { p50: 1, p99: 9 } }), m(300, { cpuUsPerMsg: 10, latencyMs: { p50: 3, p99: 7 } }), m(200, { cpuUsPerMsg: 20, latencyMs: { p50: 2, p99: 8 } })];
    expect(medianOf(runs)).toMatchObject({ rate: 200, cpuUsPerMsg: 20, latencyMs: { p50: 2, p99: 8 } });
    expect(medianOf([])).toBeUndefined();
  });

  it('reads result lines of the Node children and of the Python peer alike', () => {
    expect(measurementOf({ event: 'result', messages: 5, seconds: 1, rate: 5, cpuUsPerMsg: 12, peakRssMiB: 80 })).toEqual({ messages: 5, seconds: 1, rate: 5, cpuUsPerMsg: 12, peakRssMiB: 80 });
    expect(measurementOf({ mode: 'paced-consume', messages: 5, seconds: 1, rate: 5, cpu_us_per_msg: 700, peak_rss_mib: 30, latency_ms: { p50: 0.7, p99: 2.5, count: 5 } })).toEqual({
      messages: 5,
      seconds: 1,
      rate: 5,
      cpuUsPerMsg: 700,
      peakRssMiB: 30,
      latencyMs: { p50: 0.7, p99: 2.5 },
    });
  });

  it('checks each target of issue 12 against the sides it names', () => {
    const checks = checkTargets([
      comparison('consumer-c50', { kelp: m(45_000), BullMQ: m(15_000) }),
      comparison('consumer-c1', { kelp: m(9_000, { cpuUsPerMsg: 90 }), BullMQ: m(6_000, { cpuUsPerMsg: 120 }) }),
      comparison('paced-1000', { kelp: m(1000, { latencyMs: { p50: 0.5, p99: 3 } }), 'raw LPUSH->BRPOP': m(1000, { latencyMs: { p50: 0.25, p99: 2 } }), Kombu: undefined }),
      comparison('rss-10000', { kelp: m(1, { peakRssMiB: 90 }), BullMQ: m(1, { peakRssMiB: 95 }) }),
    ]);
    const by = (what: RegExp) => checks.find((c) => what.test(c.what));
    expect(by(/concurrency 50/)).toMatchObject({ goal: '>= 3x', value: 3, met: true });
    expect(by(/concurrency 1, prefetch 1/)).toMatchObject({ value: 1.5, met: true });
    expect(by(/client CPU/)).toMatchObject({ goal: '<= 0.7x', value: 0.75, met: false });
    expect(by(/100,000 messages/)?.goal).toBe('>= 40,000 msgs/s');
    expect(by(/p50/)).toMatchObject({ value: 2, met: false });
    // Kombu's side failed, so that ratio is not measured rather than guessed.
    expect(by(/p99/)?.value).toBeUndefined();
    expect(by(/p99/)?.met).toBeUndefined();
    expect(by(/backlog 10000/)).toMatchObject({ met: true });
    expect(by(/memory:\/\//)?.value).toBeUndefined();
  });

  it('shows kelp over each peer in the table, and why a side has no figures', () => {
    const rows = sideRows([comparison('consumer-c1', { kelp: m(9_000), BullMQ: m(6_000), other: undefined })]);
    expect(rows.map((r) => [r[1], r[4], r[9]])).toEqual([
      ['kelp', '', ''],
      ['BullMQ', '1.5x', ''],
      ['other', '-', '1 of 1 runs failed: boom'],
    ]);
  });
});
