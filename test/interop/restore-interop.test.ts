/**
 * kelp's batched restore next to Python Kombu 5.2.4's own restore_visible, at the same moment on
 * the same db: the unacked_mutex and the per-entry compare-and-swap (kelp) / WATCH (Kombu) must
 * put every abandoned message back exactly once between them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseUrl } from '@kelp/core';
import { RedisTransport } from '@kelp/transport-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';

const run = promisify(execFile);
const TOTAL = 3000;

const KOMBU_SWEEP_LOOP = `
import sys, time
from kombu import Connection
conn = Connection(sys.argv[1], transport_options={'visibility_timeout': 60})
channel = conn.default_channel
deadline = time.time() + float(sys.argv[2])
sweeps = 0
while time.time() < deadline:
    channel.qos.restore_visible(num=100000, interval=1)
    sweeps += 1
print(sweeps)
conn.release()
`;

let db: FreshDb;
let redis: Redis;
let transport: RedisTransport;
beforeAll(async () => {
  db = await freshDb();
  redis = new Redis(db.url);
  transport = new RedisTransport(parseUrl(db.url, {}));
  await transport.connect();
});
afterAll(async () => {
  await transport.close();
  await redis.quit();
});

describe('kelp restore and Python Kombu restore_visible at the same time', () => {
  it(`restore each of ${TOTAL} abandoned messages exactly once`, { timeout: 60_000 }, async () => {
    const queue = 'ri.q';
    const pipeline = redis.pipeline();
    for (let i = 0; i < TOTAL; i++) {
      const tag = `ri-${i}`;
      const env = JSON.stringify({
        body: Buffer.from(JSON.stringify({ i })).toString('base64'),
        'content-encoding': 'utf-8',
        'content-type': 'application/json',
        headers: {},
        properties: { delivery_mode: 2, delivery_info: { exchange: '', routing_key: queue }, priority: 0, body_encoding: 'base64', delivery_tag: tag },
      });
      pipeline.hset('unacked', tag, `[${env}, "", "${queue}"]`).zadd('unacked_index', Date.now() / 1000 - 3600 + i / 1000, tag);
    }
    await pipeline.exec();
    const python = run('/usr/bin/python3', ['-c', KOMBU_SWEEP_LOOP, db.url, '3'], { timeout: 30_000 });
    const kelp = transport.admin.restore({ olderThan: 60, queue });
    const [{ stdout }, report] = await Promise.all([python, kelp]);
    const tags = (await redis.lrange(queue, 0, -1)).map((raw) => (JSON.parse(raw) as { properties: { delivery_tag: string } }).properties.delivery_tag);
    expect(Number(stdout.trim())).toBeGreaterThan(0);
    expect(report.total).toBeLessThanOrEqual(TOTAL);
    expect([tags.length, new Set(tags).size, await redis.hlen('unacked'), await redis.zcard('unacked_index')]).toEqual([TOTAL, TOTAL, 0, 0]);
  });
});
