/**
 * The cold workloads of `npm run bench:compare` on a real Redis, checked for what they count
 * (not for speed): every side's child process reports every message, and each run removes the
 * queues it made, kelp's and BullMQ's alike.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareCold } from '../../packages/bench/src/cold/compare.js';
import { coldWorkloads, type ColdContext } from '../../packages/bench/src/cold/workloads.js';
import { WORKER_SCRIPT } from '../../packages/bench/src/paths.js';
import { RedisInfoProbe } from '../../packages/bench/src/redis-info.js';
import { freshDb } from '../setup/fresh-db.js';
import { buildBenchPackage } from './build-bench.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let ctx: ColdContext;
let redis: Redis;

beforeAll(async () => {
  const { url } = await freshDb();
  // The paced kelp side runs bin/worker.mjs, which loads the package's build.
  await buildBenchPackage();
  const probe = await RedisInfoProbe.open(url);
  if (!probe) throw new Error(`no Redis probe for ${url}`);
  ctx = {
    url,
    messages: 200,
    cliMessages: 300,
    kombuCliMessages: 100,
    backlogs: [300],
    python: '/usr/bin/python3',
    cliScript: join(root, 'packages/cli/dist/kelp.js'),
    concurrency: 100,
    timeoutMs: 60_000,
    probe,
    workerCommand: [process.execPath, WORKER_SCRIPT],
  };
  redis = new Redis(url);
});
afterAll(() => {
  ctx?.probe?.close();
  redis?.disconnect();
});

async function run(...ids: string[]) {
  const workloads = coldWorkloads(ctx).filter((w) => ids.includes(w.id));
  expect(workloads.map((w) => w.id)).toEqual(ids);
  return compareCold(ctx, workloads, { rounds: 1 });
}

const counts = (results: Awaited<ReturnType<typeof run>>) =>
  results.flatMap((r) => r.sides.map((s) => [r.id, s.name, s.median?.messages, s.errors]));

describe('cold compare workloads on Redis', () => {
  it('drains a kelp backlog and a BullMQ backlog of the same size, then removes both', async () => {
    const results = await run('consumer-c1', 'rss-300');
    expect(counts(results)).toEqual([
      ['consumer-c1', 'kelp', 200, []],
      ['consumer-c1', 'BullMQ', 200, []],
      ['rss-300', 'kelp', 300, []],
      ['rss-300', 'BullMQ', 300, []],
    ]);
    for (const side of results.flatMap((r) => r.sides)) expect(side.median?.peakRssMiB).toBeGreaterThan(10);
    expect(await redis.keys('bull:*')).toEqual([]);
    expect(await redis.keys('bench.*')).toEqual([]);
    expect(await redis.hlen('unacked')).toBe(0);
  });

  it('publishes through kelp, BullMQ and a bare LPUSH, and removes what they wrote', async () => {
    const results = await run('publish-serial');
    expect(counts(results)).toEqual([
      ['publish-serial', 'kelp', 200, []],
      ['publish-serial', 'BullMQ add()', 200, []],
      ['publish-serial', 'raw LPUSH', 200, []],
    ]);
    expect(await redis.keys('bull:*')).toEqual([]);
    expect(await redis.keys('bench.*')).toEqual([]);
  });

  it('times kelp consume and the Kombu consumer as whole processes over every message', async () => {
    const results = await run('cli-consume', 'memory-vs-redis');
    expect(counts(results)).toEqual([
      ['cli-consume', 'kelp CLI', 300, []],
      ['cli-consume', 'Kombu consumer', 100, []],
      ['memory-vs-redis', 'memory://', 200, []],
      ['memory-vs-redis', 'redis', 200, []],
    ]);
    // Both consumers acked everything they took: nothing is left in the queues or unacked.
    expect(await redis.keys('bench.*')).toEqual([]);
    expect(await redis.hlen('unacked')).toBe(0);
  });
});
