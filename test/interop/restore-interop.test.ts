/**
 * kelp's batched restore next to Python Kombu 5.2.4's own restore_visible, at the same moment on
 * the same db: the unacked_mutex and the per-entry compare-and-swap (kelp) / WATCH (Kombu) must
 * put every abandoned message back exactly once between them.
 */
import { spawn } from 'node:child_process';
import { parseUrl } from '@kelp/core';
import { RedisTransport } from '@kelp/transport-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';

const TOTAL = 3000;

// Sweeps of 100 entries (one mutex hold each) with a pause between them, so kelp's batches and
// Kombu's interleave: a sweep loop without pauses re-takes the mutex before kelp's next try, and
// whoever locks first must not restore everything. Prints `ready` once connected, `swept N` after
// each sweep (N: index entries gone meanwhile, by anyone) and `sweeps N` at the end.
const KOMBU_SWEEP_LOOP = `
import sys, time
from kombu import Connection
conn = Connection(sys.argv[1], transport_options={'visibility_timeout': 60})
channel = conn.default_channel
client = channel.client
client.ping()
print('ready', flush=True)
deadline = time.time() + float(sys.argv[2])
sweeps = 0
while time.time() < deadline:
    before = client.zcard('unacked_index')
    channel.qos.restore_visible(num=100, interval=1)
    sweeps += 1
    print('swept', before - client.zcard('unacked_index'), flush=True)
    time.sleep(0.05)
print('sweeps', sweeps, flush=True)
conn.release()
`;

/**
 * Starts the Kombu sweeper; resolves once its first sweep restored something, so that kelp starts
 * while Kombu is at work. The exit (stdout) comes wrapped: an async function returning a bare
 * promise would adopt it, and the caller would only go on once the sweeper had finished.
 */
async function startKombuSweeper(url: string, seconds: number): Promise<{ exited: Promise<string> }> {
  const child = spawn('/usr/bin/python3', ['-c', KOMBU_SWEEP_LOOP, url, String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 20) * 1000);
  const exited = new Promise<string>((resolve, reject) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`kombu sweeper exited ${code}: ${err}`));
    }),
  );
  exited.catch(() => undefined);
  while (!/^swept [1-9]/m.test(out)) {
    if (child.exitCode !== null) await exited;
    await new Promise((r) => setTimeout(r, 10));
  }
  return { exited };
}

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
    const python = await startKombuSweeper(db.url, 3);
    const report = await transport.admin.restore({ olderThan: 60, queue });
    const stdout = await python.exited;
    const tags = (await redis.lrange(queue, 0, -1)).map((raw) => (JSON.parse(raw) as { properties: { delivery_tag: string } }).properties.delivery_tag);
    expect(Number(/^sweeps (\d+)$/m.exec(stdout)?.[1])).toBeGreaterThan(1);
    // Both restorers took part: kelp restored some, and Kombu the rest (the list holds each once).
    expect({ kelpRestoredSome: report.total > 0, kombuRestoredSome: report.total < TOTAL }).toEqual({ kelpRestoredSome: true, kombuRestoredSome: true });
    expect([tags.length, new Set(tags).size, await redis.hlen('unacked'), await redis.zcard('unacked_index')]).toEqual([TOTAL, TOTAL, 0, 0]);
  });
});
