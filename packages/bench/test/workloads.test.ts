import { describe, expect, it } from 'vitest';
import { runBenchCommand, runWorkerCommand } from '../src/command.js';
import { endToEndWorkload } from '../src/e2e.js';
import { addQueueRatios, runWorkload, type BenchContext } from '../src/workloads.js';
import type { WorkloadResult } from '../src/measure.js';

const ctx: BenchContext = { url: 'memory://', messages: 200, concurrency: 50, timeoutMs: 10_000 };

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) } };
}

describe('bench workloads on memory://', () => {
  it('publishes every message one at a time and reports a rate and CPU per message', async () => {
    const result = await runWorkload(ctx, 'publish-serial');
    expect(result.error).toBeUndefined();
    expect(result.messages).toBe(200);
    expect(result.rate).toBeGreaterThan(0);
    expect(result.cpuUsPerMsg).toBeGreaterThan(0);
  });

  it('drains and acks every prefilled message at prefetch 10', async () => {
    const result = await runWorkload(ctx, 'consume-ack-p10');
    expect(result.error).toBeUndefined();
    expect(result.messages).toBe(200);
    expect(result.extra).toEqual({ queues: 1, prefetch: 10 });
  });

  it('spreads messages over ten queues and drains them all', async () => {
    const result = await runWorkload(ctx, 'queues-10');
    expect(result.error).toBeUndefined();
    expect(result.extra).toMatchObject({ queues: 10, prefetch: 100 });
  });

  it('delivers each fanout message to all ten subscribers', async () => {
    const result = await runWorkload(ctx, 'fanout-10');
    expect(result.error).toBeUndefined();
    expect(result.extra).toMatchObject({ subscribers: 10, published: 200, delivered: 2000, complete: true });
  });

  it('drains a priority mix completely', async () => {
    const result = await runWorkload(ctx, 'priority-mix');
    expect(result.error).toBeUndefined();
    expect(result.messages).toBe(200);
  });

  it('states the ratio of each queue count to the one-queue rate', () => {
    const rows: WorkloadResult[] = [
      { id: 'queues-1', label: '1', messages: 1, seconds: 1, rate: 1000 },
      { id: 'queues-100', label: '100', messages: 1, seconds: 1, rate: 900 },
    ];
    addQueueRatios(rows);
    expect(rows[1]?.extra).toEqual({ vsOneQueue: 0.9 });
  });

  it('refuses the cross-process workloads on memory:// with the reason', async () => {
    const result = await endToEndWorkload({ ...ctx, workerCommand: ['node'] }, 0);
    expect(result.error).toMatch(/needs a broker outside this process/);
  });
});

describe('kelp bench command line', () => {
  it('exits 2 naming the flag for a bad --messages', async () => {
    const { err, io: streams } = io();
    expect(await runBenchCommand(['memory://', '--messages', 'lots'], streams)).toBe(2);
    expect(err.join('')).toBe('kelp: error: --messages must be a positive integer, got "lots"\n');
  });

  it('exits 2 listing the accepted workloads for an unknown one', async () => {
    const { err, io: streams } = io();
    expect(await runBenchCommand(['memory://', '--workloads', 'nope'], streams)).toBe(2);
    expect(err.join('')).toMatch(/--workloads accepts publish-serial, .*; got "nope"/);
  });

  it('requires a URL for the polling comparison', async () => {
    const { err, io: streams } = io();
    expect(await runBenchCommand(['polling'], streams)).toBe(2);
    expect(err.join('')).toMatch(/needs a broker URL/);
  });

  it('prints selected workloads as JSON with --json', async () => {
    const { out, io: streams } = io();
    expect(await runBenchCommand(['memory://', '--workloads', 'publish-concurrent', '--messages', '100', '--json'], streams)).toBe(0);
    const parsed = JSON.parse(out.join('')) as { url: string; results: WorkloadResult[] };
    expect(parsed.url).toBe('memory://');
    expect(parsed.results.map((r) => [r.id, r.messages])).toEqual([['publish-concurrent', 100]]);
  });

  it('leaves the cross-process workloads out on memory:// unless they are asked for', async () => {
    const { out, err, io: streams } = io();
    expect(await runBenchCommand(['memory://', '--messages', '20', '--json'], streams)).toBe(0);
    const ids = (JSON.parse(out.join('')) as { results: WorkloadResult[] }).results.map((r) => r.id);
    expect(ids).toContain('queues-1000');
    expect(ids.filter((id) => id.startsWith('e2e') || id.startsWith('rss'))).toEqual([]);
    expect(err.join('')).toBe('');
  });

  it('runs a producer worker in-process and reports how many it published', async () => {
    const { out, io: streams } = io();
    // A producer worker on its own memory:// broker: it publishes and reports, nobody consumes.
    const code = await runWorkerCommand(['--role', 'producer', '--url', 'memory://', '--prefix', 'w', '--messages', '50'], streams);
    expect(code).toBe(0);
    const lines = out.join('').trim().split('\n').map((l) => JSON.parse(l) as { event: string; published?: number });
    expect(lines.map((l) => l.event)).toEqual(['ready', 'result']);
    expect(lines[1]?.published).toBe(50);
  });
});
