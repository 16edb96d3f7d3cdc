import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinLoad, countsFor, dueAtMs, loadFromFile, planMessages, usesPriorities } from '../src/polling-loads.js';

const dir = mkdtempSync(join(tmpdir(), 'kelp-loads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(content: unknown): string {
  const path = join(dir, `load-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('polling loads', () => {
  it('spreads a skewed load as 1/(i+1)^s with an exact total', () => {
    // s = 1 over 4 queues: shares 12/25, 6/25, 4/25, 3/25 of 1000.
    expect(countsFor(builtinLoad('skewed', 4), 1000)).toEqual([480, 240, 160, 120]);
    // s = 2: 1, 1/4, 1/9, 1/16 (sum 205/144): 702.4, 175.6, 78.0, 43.9 -> largest remainders round up.
    expect(countsFor(builtinLoad('skewed', 4, 2), 1000)).toEqual([702, 176, 78, 44]);
    expect(countsFor(builtinLoad('even', 3), 10)).toEqual([4, 3, 3]);
  });

  it('interleaves queues in proportion to their counts, bursts kept together', () => {
    const plan = planMessages(builtinLoad('even', 2), 6).map((m) => m.queue);
    expect(plan).toEqual([0, 1, 0, 1, 0, 1]);
    const bursty = planMessages({ ...builtinLoad('even', 2), burst: 3 }, 12).map((m) => m.queue);
    expect(bursty).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]);
    // A burst leaves at once: messages 3, 4 and 5 at 1000 msgs/s are all due at 3 ms.
    expect([3, 4, 5, 6].map((k) => dueAtMs({ ...builtinLoad('even', 2), burst: 3 }, k, 1000))).toEqual([3, 3, 3, 6]);
  });

  it('mixes priorities on the priority load', () => {
    const load = builtinLoad('priority', 2);
    expect(usesPriorities(load)).toBe(true);
    expect(planMessages(load, 10).map((m) => m.priority)).toEqual([0, 0, 3, 3, 3, 3, 6, 6, 9, 9]);
    expect(usesPriorities(builtinLoad('even', 2))).toBe(false);
  });

  it('reads weights, rates and priorities from a load file', () => {
    const load = loadFromFile(file({ name: 'orders', queues: [{ weight: 3, priority: 9 }, { weight: 1 }] }));
    expect(load.name).toBe('orders');
    expect(countsFor(load, 400)).toEqual([300, 100]);
    // Smooth weighted round robin over 3:1: a, a, b, a.
    expect(planMessages(load, 4).map((m) => m.priority)).toEqual([9, 9, undefined, 9]);
    const rated = loadFromFile(file({ queues: [{ rate: 300 }, { rate: 100 }] }));
    expect(rated.rate).toBe(400);
    expect(countsFor(rated, 8)).toEqual([6, 2]);
  });

  it('rejects a bad load file with what to fix', () => {
    expect(() => loadFromFile(file({ queues: [{ wieght: 1 }] }))).toThrow(/unknown key queues\.0\.wieght; did you mean weight\?/);
    expect(() => loadFromFile(file({ queues: [] }))).toThrow(/queues must be a non-empty array/);
    expect(() => loadFromFile(file({ queues: [{ priority: 2 }] }))).toThrow(/queues\.0 needs a weight or a rate/);
    expect(() => loadFromFile(file({ queues: [{ weight: -1 }] }))).toThrow(/queues\.0\.weight must be a positive number/);
    expect(() => loadFromFile(file('{not json'))).toThrow(/--load/);
  });
});

describe('polling strategies on the command line', () => {
  it('suggests the closest strategy for a misspelt name', async () => {
    const { resolveCycles } = await import('../src/polling-strategies.js');
    await expect(resolveCycles(['round_robbin'])).rejects.toThrow(/unknown strategy "round_robbin"; did you mean round_robin\?/);
    await expect(resolveCycles(['sorted', 'priority'])).resolves.toEqual(['sorted', 'priority']);
  });
});

describe('kelp bench polling usage errors', () => {
  it('exits 2 with what to fix for a bad load file or an unknown strategy', async () => {
    const { runBenchCommand } = await import('../src/command.js');
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (t: string) => (stderr += t) };
    expect(await runBenchCommand(['polling', 'memory://', '--load', file({ queues: [{ wieght: 1 }] })], io)).toBe(2);
    expect(stderr).toMatch(/did you mean weight\?/);
    expect(await runBenchCommand(['polling', 'memory://', '--cycles', 'sortd'], io)).toBe(2);
    expect(stderr).toMatch(/did you mean sorted\?/);
    expect(await runBenchCommand(['polling', 'memory://', '--rate=-1'], io)).toBe(2);
    expect(stderr).toMatch(/--rate must be a positive number/);
  });
});
