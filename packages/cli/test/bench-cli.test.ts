import { describe, expect, it } from 'vitest';
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
});
