/**
 * `kelp bench polling` as a lab, run the way a user runs it (the command with --json), tiny, on
 * a Redis of its own (the Redis counters and CPU are the whole server's, so no other test file
 * may share it). Checked for what the lab claims, not for speed: a module strategy is loaded
 * and measured, a load file is honoured, the baselines consume every message, a queue starved
 * on purpose shows in the starvation figure and a low Jain index, an even run shows an index
 * near 1, and a run compared with itself differs by nothing beyond its noise.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBenchCommand } from '../../packages/bench/src/command.js';
import type { PollingComparison } from '../../packages/bench/src/polling-compare.js';
import type { PollingReport, PollingResult } from '../../packages/bench/src/polling.js';
import { requirePython } from '../setup/prerequisites.js';
import { startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { buildBenchPackage } from './build-bench.js';
import { dumpDom } from './chromium.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kelp-lab-'));
let server: RedisServerHandle;

beforeAll(async () => {
  requirePython(['kombu', 'redis']);
  // The producer process runs the package's build: build it from the sources under test.
  await buildBenchPackage();
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `kelp bench polling ...` and returns its exit code and parsed --json output. */
async function lab<T = PollingReport>(args: readonly string[]): Promise<{ code: number; out: T; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runBenchCommand(['polling', ...args, '--json'], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  let out: T;
  try {
    out = JSON.parse(stdout) as T;
  } catch {
    throw new Error(`no JSON (exit ${code}): ${stderr}${stdout}`);
  }
  return { code, out, stderr };
}

const row = (report: PollingReport, consumer: string, cycle: string, mode: string): PollingResult => {
  const found = report.results.find((r) => r.consumer === consumer && r.cycle === cycle && r.mode === mode);
  if (!found) throw new Error(`no row ${consumer} ${cycle} ${mode} in ${report.results.map((r) => `${r.consumer} ${r.cycle} ${r.mode}`).join(', ')}`);
  return found;
};
const total = (r: PollingResult): number => (r.servedByQueue ?? []).reduce((a, b) => a + b, 0);

describe('kelp bench polling as a lab', () => {
  it('loads a strategy from a module path next to built-in names and measures it', async () => {
    const { code, out } = await lab([server.url, '--cycles', `round_robin,${fixture('reverse-sorted-strategy.mjs')}`, '--modes', 'batched', '--loads', 'even', '--queues', '3', '--messages', '300', '--paced', '30', '--rate', '1000']);
    expect(code).toBe(0);
    expect(out.results.map((r) => `${r.cycle} ${r.mode}`)).toEqual(['round_robin batched', 'reverse_sorted batched']);
    const custom = row(out, 'kelp', 'reverse_sorted', 'batched');
    expect(custom.error).toBeUndefined();
    expect(total(custom)).toBe(300);
    expect(custom.latencyMs?.count).toBe(30);
  });

  it('honours a load file: the messages of each queue follow its weight (6:3:1, to within one message)', async () => {
    const { code, out } = await lab([server.url, '--load', fixture('weighted-load.json'), '--cycles', 'round_robin', '--modes', 'batched', '--messages', '500', '--paced', '50']);
    expect(code).toBe(0);
    const r = row(out, 'kelp', 'round_robin', 'batched');
    expect(r.load).toBe('weighted');
    const served = r.servedByQueue ?? [];
    [300, 150, 50].forEach((expected, q) => expect(Math.abs((served[q] as number) - expected)).toBeLessThanOrEqual(1));
    const paced = (r.perQueue ?? []).map((q) => q.count);
    [30, 15, 5].forEach((expected, q) => expect(Math.abs((paced[q] as number) - expected)).toBeLessThanOrEqual(1));
  });

  it('runs the Kombu and raw BRPOP baselines on the same queues, each consuming every message', async () => {
    const { code, out } = await lab([server.url, '--baseline', 'kombu,raw', '--cycles', 'round_robin', '--modes', 'batched', '--loads', 'skewed', '--queues', '3', '--messages', '200', '--paced', '30']);
    expect(code).toBe(0);
    for (const consumer of ['kombu', 'raw'] as const) {
      const r = row(out, consumer, 'round_robin', 'brpop');
      expect(r.error).toBeUndefined();
      expect(total(r)).toBe(200);
      // Shares 1 : 1/2 : 1/3 of 200 = 109.1, 54.5, 36.4, rounded by largest remainder.
      expect(r.servedByQueue).toEqual([109, 55, 36]);
      expect(r.latencyMs?.count).toBe(30);
      expect(r.commandsPerMsg).toBeGreaterThan(0);
      expect(r.cpuUsPerMsg).toBeGreaterThan(0);
    }
    // Kombu's BRPOP takes one message per command; the raw loop does nothing else.
    expect(row(out, 'raw', 'round_robin', 'brpop').commandsPerMsg).toBeLessThan(1.2);
    expect(out.environment?.['kombu']).toMatch(/^5\.2\.4/);
  });

  it('measures wake-ups by tracking on and off: without tracking an idle consumer waits for its poll timer', async () => {
    const { code, out } = await lab([server.url, '--tracking', 'on,off', '--cycles', 'round_robin', '--modes', 'batched,interval', '--loads', 'even', '--queues', '2', '--messages', '100', '--paced', '20']);
    expect(code).toBe(0);
    // interval polling has no consumer to wake: it runs once.
    expect(out.results.map((r) => `${r.mode}/${r.tracking ?? 'on'}`)).toEqual(['batched/on', 'batched/off', 'interval/on']);
    const on = out.results[0] as PollingResult;
    const off = out.results[1] as PollingResult;
    expect(total(off)).toBe(100);
    expect(off.latencyMs?.count).toBe(20);
    // The paced messages land while the untracked consumer sleeps on its 1 s timer.
    expect(off.latencyMs?.p50).toBeGreaterThan(10 * (on.latencyMs?.p50 ?? Infinity));
  });

  it('shows a queue starved on purpose in the starvation figure and a low Jain index, and an even run near 1', async () => {
    // priority never rotates: the first queue in consume order is drained before the others
    // get anything. round_robin with one message per pop takes the queues in turn.
    const { code, out } = await lab([server.url, '--cycles', 'priority,round_robin', '--modes', 'blocking', '--loads', 'even', '--queues', '3', '--messages', '1200', '--paced', '30', '--window', '50']);
    expect(code).toBe(0);
    const starved = row(out, 'kelp', 'priority', 'blocking');
    const fair = row(out, 'kelp', 'round_robin', 'blocking');
    expect(starved.jainWindows).toBeGreaterThan(0);
    expect(starved.jain).toBeLessThan(0.6);
    expect(fair.jainWindows).toBeGreaterThan(0);
    expect(fair.jain).toBeGreaterThan(0.85);
    // The last queue waits while two whole queues are drained: measured ~570 ms against ~10 ms.
    expect(starved.starvationMs).toBeGreaterThan(5 * fair.starvationMs);
  });

  it('repeats rows with the median and min-max, and compares a run with itself as no difference beyond noise', async () => {
    const { code, out } = await lab([server.url, '--repeat', '2', '--cycles', 'round_robin', '--modes', 'batched', '--loads', 'even', '--queues', '2', '--messages', '200', '--paced', '20']);
    expect(code).toBe(0);
    expect(out.runs).toHaveLength(2);
    const r = row(out, 'kelp', 'round_robin', 'batched');
    expect(r.repeats).toBe(2);
    const s = r.spread?.throughput;
    expect(s?.n).toBe(2);
    expect(s?.min).toBeLessThanOrEqual(r.throughput);
    expect(s?.max).toBeGreaterThanOrEqual(r.throughput);
    const file = join(dir, 'run.json');
    writeFileSync(file, JSON.stringify(out));
    const html = join(dir, 'ab.html');
    const compared = await lab<PollingComparison>(['--compare', file, file, '--report', html]);
    expect(compared.code).toBe(0);
    const verdicts = compared.out.rows.flatMap((x) => x.figures.filter((f) => f.a && f.b).map((f) => f.verdict));
    expect(verdicts.length).toBeGreaterThan(5);
    expect(new Set(verdicts)).toEqual(new Set(['within noise']));
    expect(readFileSync(html, 'utf8')).toContain('data-verdict="within noise"');
  });

  it('writes the HTML report with the environment, the definitions and charts carrying the measured values', async () => {
    const html = join(dir, 'lab.html');
    const { code, out } = await lab([server.url, '--cycles', 'round_robin', '--modes', 'batched,interval', '--loads', 'even', '--queues', '2', '--messages', '300', '--paced', '20', '--window', '5', '--report', html]);
    expect(code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain(`<dt>node</dt><dd>${process.version}</dd>`);
    expect(page).toMatch(/<dt>broker<\/dt><dd>(Redis|Valkey) \d/);
    expect(page).toMatch(/<dt>kelp<\/dt><dd>0\.1\.0, commit [0-9a-f]{12}/);
    expect(page).toContain("<dt>Jain&#39;s index</dt>");
    const batched = row(out, 'kelp', 'round_robin', 'batched');
    expect(page).toContain(`data-group="round_robin" data-value="${batched.throughput}"`);
    expect(batched.redisCpuUsPerMsg).toBeGreaterThan(0);
    // Chromium parses the page, and each chart of the load carries bars with the measured data.
    const dom = await dumpDom(html);
    const charts = dom.split('<svg').slice(1);
    expect(charts).toHaveLength(7);
    for (const chart of charts) {
      const values = [...chart.matchAll(/<rect class="bar"[^>]* data-value="([^"]+)"/g)].map((m) => Number(m[1]));
      expect(values.length).toBeGreaterThan(0);
      for (const value of values) expect(value).toBeGreaterThan(0);
    }
  });
});
