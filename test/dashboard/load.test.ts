/**
 * The load check of issue 17: a queue of 1,000,000 messages is paged at both ends and searched
 * within a bounded time and memory. The messages are written by a Lua loop on a server of the
 * test's own (about 250 MB, freed when it stops), as Kombu envelopes with base64 bodies.
 */
import type { Dashboard } from '@kelp/dashboard';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { dashboardFor, getJson, search, TOKEN } from './helpers.js';

const COUNT = 1_000_000;
const FILL = `
local n = tonumber(ARGV[1])
local from = tonumber(ARGV[2])
for i = from, from + n - 1 do
  local body = '{"n":' .. i .. '}'
  redis.call('LPUSH', KEYS[1], '{"body":"' .. ARGV[3] .. i .. '","content-encoding":"utf-8","content-type":"application/json","headers":{"order":"' .. i .. '"},"properties":{"priority":0,"delivery_tag":"tag-' .. i .. '","delivery_info":{"exchange":"","routing_key":"big"}}}')
end
return n
`;

let server: RedisServerHandle;
let redis: Redis;
let dashboard: Dashboard;

beforeAll(async () => {
  server = await startRedisServer({ extraArgs: ['--save', '', '--appendonly', 'no'] });
  redis = new Redis(server.url);
  // Plain (not base64) bodies keep the Lua loop simple; "body-<i>" is each body's text.
  for (let from = 0; from < COUNT; from += 100_000) await redis.eval(FILL, 1, 'big', 100_000, from, 'body-');
  dashboard = await dashboardFor(`${server.url}/0`, { searchLimit: 100_000 });
}, 120_000);
afterAll(async () => {
  await dashboard?.close();
  await redis?.quit();
  await server?.stop();
});

describe('a queue of 1,000,000 messages', () => {
  it('pages its oldest and its newest messages in well under a second each', async () => {
    expect(await redis.llen('big')).toBe(COUNT);
    for (const [order, offset, first] of [['oldest', 0, 0], ['newest', 0, COUNT - 1], ['oldest', COUNT - 25, COUNT - 25]] as const) {
      const started = performance.now();
      const { body } = await getJson<{ total: number; items: { view: { headers: { order: string } } }[] }>(dashboard, `/api/queues/big/messages?order=${order}&offset=${offset}&limit=25`);
      const ms = performance.now() - started;
      expect([body.total, body.items[0]?.view.headers.order]).toEqual([COUNT, String(first)]);
      expect(ms).toBeLessThan(1000);
      process.stdout.write(`load check: page of 25 at ${order} offset ${offset} took ${ms.toFixed(0)} ms\n`);
    }
  });

  it('searches at most 100,000 of them, streaming, in bounded time and memory', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const lines = await search(dashboard, { text: '"order":"99999"', queue: 'big' });
    const seconds = (performance.now() - started) / 1000;
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    const done = lines.at(-1);
    expect(done).toMatchObject({ type: 'done', scanned: 100_000, matches: 1, bounded: true });
    expect(lines.filter((l) => l['type'] === 'progress').length).toBeGreaterThanOrEqual(19);
    expect(seconds).toBeLessThan(30);
    expect(heapGrowthMb).toBeLessThan(200);
    // The figures the README quotes come from this line.
    process.stdout.write(`load check: search of 100,000 of 1,000,000 messages took ${seconds.toFixed(1)} s, heap growth ${heapGrowthMb.toFixed(0)} MB\n`);
  });

  it('stops reading Redis once the client leaves a search', async () => {
    const lranges = async () => Number(/cmdstat_lrange:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const controller = new AbortController();
    const response = await fetch(new URL('/api/search?text=nowhere&queue=big', dashboard.url), { signal: controller.signal, headers: { 'X-Kelp-Token': TOKEN } });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const afterLeaving = await lranges();
    await new Promise((resolve) => setTimeout(resolve, 700));
    // A search left running would read about 100 pages of 1,000 meanwhile.
    expect((await lranges()) - afterLeaving).toBe(0);
  });
});
