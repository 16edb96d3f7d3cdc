import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/cli.js';
import { captureIo } from './helpers.js';

describe('kelp bench through the CLI dispatcher', () => {
  it('runs the selected workloads and prints them as JSON', async () => {
    const captured = captureIo();
    const code = await runCli(['bench', 'memory://', '--workloads', 'publish-serial,consume-ack-p10', '--messages', '60', '--json'], captured.io);
    expect(code).toBe(0);
    const parsed = JSON.parse(captured.stdout()) as { results: Array<{ id: string; messages: number; error?: string }> };
    expect(parsed.results.map((r) => [r.id, r.messages, r.error])).toEqual([
      ['publish-serial', 60, undefined],
      ['consume-ack-p10', 60, undefined],
    ]);
  });

  it('hands kelp bench polling its flags and writes no report unless asked', async () => {
    const captured = captureIo();
    const code = await runCli(['bench', 'polling', 'memory://', '--queues', '2', '--messages', '40', '--paced', '10', '--rate', '2000', '--loads', 'even', '--cycles', 'sorted', '--json'], captured.io);
    expect(code).toBe(0);
    const report = JSON.parse(captured.stdout()) as { queues: number; results: Array<{ cycle: string; mode: string; load: string }> };
    expect(report.queues).toBe(2);
    expect(report.results.map((r) => `${r.load}/${r.cycle}/${r.mode}`)).toEqual(['even/sorted/blocking', 'even/sorted/batched', 'even/sorted/interval']);
  });

  it('rejects an unknown polling mode with exit code 2', async () => {
    const captured = captureIo();
    expect(await runCli(['bench', 'polling', 'memory://', '--modes', 'psychic'], captured.io)).toBe(2);
    expect(captured.stderr()).toMatch(/--modes accepts blocking, batched, interval/);
  });

  it('keeps the worker processes\' flags out of kelp bench --help', async () => {
    const captured = captureIo();
    expect(await runCli(['bench', '--help'], captured.io)).toBe(0);
    expect(captured.stdout()).toContain('--workloads LIST');
    for (const internal of ['--role', '--prefix', '--warmup', '--timeout-ms', '--transport-options', '--url', '--prefetch', 'internal']) {
      expect(captured.stdout()).not.toContain(internal);
    }
  });

  it('refuses an internal worker flag like any unknown flag', async () => {
    const captured = captureIo();
    expect(await runCli(['bench', 'memory://', '--role', 'consumer'], captured.io)).toBe(2);
    expect(captured.stderr()).toMatch(/--role/);
  });
});

describe('kelp bench without the benchmark package', () => {
  afterEach(() => {
    vi.doUnmock('@kelp/bench');
    vi.resetModules();
  });

  it('says where the benchmarks are instead of failing to load them', async () => {
    vi.resetModules();
    vi.doMock('@kelp/bench', () => {
      throw Object.assign(new Error("Cannot find package '@kelp/bench' imported from kelp.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    });
    const { runCli: freshCli } = await import('../src/cli.js');
    const captured = captureIo();
    expect(await freshCli(['bench', 'memory://'], captured.io)).toBe(1);
    expect(captured.stderr()).toMatch(/^kelp: error: kelp bench needs the benchmark package @kelp\/bench, .*clone of the kelp repository/);
  });
});
