/**
 * Issue 3 item 7, last clause: a kelp consumer and a Python Kombu 5.2.4 consumer on the same
 * queue at the same time share the work, nothing lost and nothing processed twice.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Connection, Consumer, Exchange, Producer, Queue, type Message } from 'kelp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisFixture, SEP, type RedisFixture } from '../redis/helpers.js';

const script = fileURLToPath(new URL('./kombu_matrix.py', import.meta.url));
const TOTAL = 2000;
const QUEUE = 'share.q';
const DONE_KEY = 'share.published';
/** From the last publish to the Kombu consumer's exit: the rest of the backlog, then 0.5 s idle. */
const DRAIN_LIMIT_MS = 10_000;

let fx: RedisFixture;
const connections: Connection[] = [];
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(async () => {
  for (const c of connections) await c.close();
  await fx.close();
});

it(`a kelp and a Kombu consumer on one queue process each of ${TOTAL} messages exactly once between them`, { timeout: 60_000 }, async () => {
  // The Kombu consumer starts first and says 'ready' once its consumer is registered.
  const child = spawn('/usr/bin/python3', [script, 'share-consume', JSON.stringify({ url: fx.db.url, queue: QUEUE, timeout: 40, idle: 0.5, done_key: DONE_KEY })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) => child.once('exit', (code) => ((exitCode = code), resolve())));
  const readyBy = Date.now() + 15_000;
  while (!out.includes('ready') && Date.now() < readyBy && exitCode === null) await new Promise((r) => setTimeout(r, 20));
  expect(out.split('\n')[0]).toBe('ready');

  const connection = new Connection(fx.db.url);
  connections.push(connection);
  const queue = new Queue(QUEUE, { exchange: new Exchange(''), routingKey: QUEUE });
  const kelpIds: number[] = [];
  const acks: Promise<void>[] = [];
  const consumer = new Consumer(connection, queue, {
    prefetchCount: 10,
    onMessage: (m: Message) => {
      kelpIds.push((m.decode() as { id: number }).id);
      acks.push(m.ack());
    },
  });
  connection.registerWithEventLoop(connection.hub);
  await consumer.consume();
  const stop = new AbortController();
  const loop = connection.hub.runForever(stop.signal).catch(() => undefined);

  // Publish from a second connection while both consume.
  const publisher = new Connection(fx.db.url);
  connections.push(publisher);
  const producer = new Producer(publisher);
  for (let i = 0; i < TOTAL; i++) await producer.publish({ id: i }, { routingKey: QUEUE, declare: i === 0 ? [queue] : [] });
  await fx.redis.set(DONE_KEY, '1');
  const publishedAt = Date.now();

  await exited;
  // Kombu stops once everything was published and the queue and unacked stayed empty for 0.5 s;
  // a message stuck in either keeps it running until its 40 s timeout.
  const drainMs = Date.now() - publishedAt;
  stop.abort();
  connection.hub.stop();
  await loop;
  await Promise.all(acks);

  expect(err).toBe('');
  const lines = out.trim().split('\n');
  const pyIds = (JSON.parse(lines[lines.length - 1] as string) as { ids: number[] }).ids;
  const all = [...kelpIds, ...pyIds].sort((a, b) => a - b);
  expect(exitCode).toBe(0);
  expect(drainMs).toBeLessThan(DRAIN_LIMIT_MS);
  expect(all.length).toBe(TOTAL);
  expect(all).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
  expect(kelpIds.length).toBeGreaterThan(0);
  expect(pyIds.length).toBeGreaterThan(0);
  expect([await fx.redis.llen(QUEUE), await fx.redis.llen(`${QUEUE}${SEP}3`), await fx.redis.hlen('unacked'), await fx.redis.zcard('unacked_index')]).toEqual([0, 0, 0, 0]);
});
