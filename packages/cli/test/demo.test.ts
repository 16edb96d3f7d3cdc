import { describe, expect, it } from 'vitest';
import { runCli } from '../src/index.js';
import { captureIo } from './helpers.js';

interface DemoJson {
  url: string;
  published: number;
  consumed: number;
  acked: number;
  lost: number;
  duplicates: number;
  deliveries: { expected: number; consumed: number; acked: number };
  queues: { queue: string; type: string; published: number; consumed: number; acked: number }[];
  throughput: number;
  latencyMs: { p50: number; p95: number; p99: number };
}

describe('kelp demo on memory://', () => {
  it('consumes and acks every one of 2000 messages with none lost', async () => {
    const io = captureIo();
    const code = await runCli(['demo', 'memory://demo-json', '--messages', '2000', '--json'], io.io);
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    const lines = io.lines();
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0] ?? '') as DemoJson;
    expect(result.published).toBe(2000);
    expect(result.consumed).toBe(2000);
    expect(result.acked).toBe(2000);
    expect(result.lost).toBe(0);
    expect(result.duplicates).toBe(0);
    // 667 direct + 667 topic + 666 fanout messages, the fanout ones delivered to two queues.
    expect(result.queues.map((q) => [q.queue, q.type, q.published, q.consumed, q.acked])).toEqual([
      ['kelp.demo.direct', 'direct', 667, 667, 667],
      ['kelp.demo.topic', 'topic', 667, 667, 667],
      ['kelp.demo.fanout.a', 'fanout', 666, 666, 666],
      ['kelp.demo.fanout.b', 'fanout', 666, 666, 666],
    ]);
    expect(result.deliveries).toMatchObject({ expected: 2666, consumed: 2666, acked: 2666 });
    expect(result.throughput).toBeGreaterThan(0);
    expect(result.latencyMs.p50).toBeLessThanOrEqual(result.latencyMs.p95);
    expect(result.latencyMs.p95).toBeLessThanOrEqual(result.latencyMs.p99);
  });

  it('prints a table, the lost count and latency percentiles, with plain progress lines on a non-terminal stderr', async () => {
    const io = captureIo();
    const code = await runCli(['demo', 'memory://demo-text', '--messages', '300'], io.io);
    expect(code).toBe(0);
    const out = io.stdout();
    expect(out).toContain('kelp demo on memory://demo-text');
    expect(out).toMatch(/^kelp\.demo\.direct\s+kelp\.demo\.direct \(direct, 'demo'\)\s+100\s+100\s+100$/m);
    expect(out).toContain('messages:   300 published, 300 consumed, 300 acked, 0 lost');
    expect(out).toMatch(/latency: +p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms/);
    const progress = io.stderr().split('\n').filter(Boolean);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((line) => line.startsWith('kelp demo: '))).toBe(true);
    expect(progress.at(-1)).toContain('100%');
    expect(io.stderr()).not.toContain('\r');
  });

  it('draws an in-place progress bar that ends at 100% when stderr is a terminal', async () => {
    const io = captureIo();
    const chunks: string[] = [];
    io.io.stderr = { isTTY: true, columns: 100, write: (chunk: string) => (chunks.push(chunk), true) };
    const code = await runCli(['demo', 'memory://demo-tty', '--messages', '500'], io.io);
    expect(code).toBe(0);
    const text = chunks.join('');
    expect(text.startsWith('\rkelp demo [')).toBe(true);
    expect(text).toMatch(/\[#{30}\] 100% published 500\/500, acked 666\/666\x1b\[K\n$/);
  });
});
