/**
 * The benchmark drivers on a real Redis, checked for what they count (not for speed): every
 * message is accounted for, Redis counters are read, and the two-process workload really runs
 * its producer and consumer as separate processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_SCRIPT } from '../../packages/bench/src/paths.js';
import { endToEndWorkload, backlogRssWorkload, type ProcessContext } from '../../packages/bench/src/e2e.js';
import { builtinLoad } from '../../packages/bench/src/polling-loads.js';
import { runPollingBench } from '../../packages/bench/src/polling.js';
import { RedisInfoProbe } from '../../packages/bench/src/redis-info.js';
import { runWorkload } from '../../packages/bench/src/workloads.js';
import { freshDb } from '../setup/fresh-db.js';
import { buildBenchPackage } from './build-bench.js';

let ctx: ProcessContext;

beforeAll(async () => {
  const { url } = await freshDb();
  // The worker script runs the package's build, so build it from the sources under test.
  await buildBenchPackage();
  const probe = await RedisInfoProbe.open(url);
  ctx = { url, messages: 300, concurrency: 100, timeoutMs: 30_000, workerCommand: [process.execPath, WORKER_SCRIPT], ...(probe ? { probe } : {}) };
});
afterAll(() => ctx?.probe?.close());

describe('bench workloads on Redis', () => {
  it('counts Redis commands and round trips for a consume+ack drain', async () => {
    const result = await runWorkload(ctx, 'consume-ack-p100');
    expect(result.error).toBeUndefined();
    expect(result.messages).toBe(300);
    // Pops record a whole batch unacked with one variadic HSET, and one tick's acks share one
    // script call, so a drain at prefetch 100 costs far less than a round trip per message.
    const hsets = result.commands?.['hset'] ?? 0;
    expect(hsets).toBeGreaterThanOrEqual(1);
    expect(hsets).toBeLessThanOrEqual(300);
    expect(result.commandsPerMsg).toBeGreaterThan(0);
    expect(result.roundTripsPerMsg).toBeGreaterThan(0);
    expect(result.roundTripsPerMsg).toBeLessThan(1);
  });

  it('delivers every fanout message to all ten subscribers', async () => {
    let result = await runWorkload(ctx, 'fanout-10');
    // Fanout is at most once: a subscriber link replaced while the machine stalled (the full suite
    // on two cores) misses what was published meanwhile. Such a run is tried once more; a loss
    // with every link up fails at once.
    if (result.extra?.['complete'] !== true && Number(result.extra?.['linksLost']) > 0) result = await runWorkload(ctx, 'fanout-10');
    expect(result.extra).toMatchObject({ delivered: 3000, complete: true, linksLost: 0 });
  });

  it('moves every message from a producer process to a consumer process', async () => {
    const result = await endToEndWorkload(ctx, 0);
    expect(result.error).toBeUndefined();
    expect(result.messages).toBe(300);
    expect(result.latencyMs?.count).toBe(300);
    expect(result.extra).toMatchObject({ complete: true });
  });

  it('paces the producer at the requested rate', async () => {
    const result = await endToEndWorkload(ctx, 1000, 200);
    expect(result.messages).toBe(200);
    // The warm-up messages are delivered and acked but not in the latency figures.
    expect(result.extra).toMatchObject({ complete: true, warmupMessages: 200 });
    expect(result.latencyMs?.count).toBe(200);
    // The producer sends 200 warm-up and 200 measured messages at 1,000/s, so it takes at least
    // 0.4 s and its rate of measured messages over that span stays under 500/s; a saturated
    // producer goes at thousands. (The consumer's span is no check: a consumer that lags behind
    // on a loaded machine takes the measured messages in one burst.)
    expect(result.extra?.['producerRate']).toBeLessThanOrEqual(510);
    expect(result.extra?.['producerRate']).toBeGreaterThan(0);
  });

  it('reports the peak RSS of a fresh consumer process', async () => {
    const result = await backlogRssWorkload(ctx, 500);
    expect(result.error).toBeUndefined();
    expect(result.extra).toMatchObject({ backlog: 500, complete: true });
    expect(result.peakRssMiB).toBeGreaterThan(10);
  });

  it('compares polling strategies with commands per message for each', async () => {
    const report = await runPollingBench({ url: ctx.url, messages: 90, rate: 2000, pacedMessages: 20, interval: 0.002, windowMs: 20, timeoutMs: 20_000, loads: [builtinLoad('even', 3)], warmup: false, ...(ctx.probe ? { probe: ctx.probe } : {}) });
    expect(report.results).toHaveLength(9);
    expect(report.results.filter((r) => r.error)).toEqual([]);
    for (const r of report.results) expect(r.commandsPerMsg).toBeGreaterThan(0);
    const interval = report.results.find((r) => r.mode === 'interval' && r.cycle === 'round_robin');
    const batched = report.results.find((r) => r.mode === 'batched' && r.cycle === 'round_robin');
    // Interval polling asks once per message; a batched pop takes many per round trip.
    expect(interval?.roundTripsPerMsg).toBeGreaterThan(batched?.roundTripsPerMsg ?? Infinity);
  });
});
