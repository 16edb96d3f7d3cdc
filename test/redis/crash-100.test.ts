/**
 * Issue 3, "How it is checked": a kelp consumer process holding 100 unacked messages is killed
 * with SIGKILL; after the (short) visibility timeout exactly those 100 are redelivered to another
 * consumer, marked redelivered, and none is lost. The child is bundled with esbuild as
 * crash.test.ts does; its source is inline here because it must never ack.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Connection, Consumer, Exchange, Producer, Queue, type Message } from 'kelp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bundleChild, repoRoot, type ChildBundle } from '../setup/child-bundle.js';
import { redisFixture, SEP, type RedisFixture } from './helpers.js';

const HELD = 100;
const PREFETCH = 150;
const VISIBILITY = 2;
const QUEUE = 'crash100.q';

/** The child: consumes with prefetch argv[4], prints every delivery tag it holds, never acks. */
const CHILD = `
import { parseUrl } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport } from '@kelp/transport-redis';

const [url, queue, prefetch] = process.argv.slice(2);
const transport = new RedisTransport(parseUrl(url, { transportOptions: { brpopTimeout: 0.2, visibilityTimeout: 3600 } }));
await transport.connect();
const hub = new Hub();
transport.registerWithEventLoop(hub);
const channel = await transport.createChannel();
await channel.basicQos(Number(prefetch));
await channel.basicConsume(queue, { onDelivery: (delivery) => process.stdout.write(delivery.deliveryTag + '\\n') });
process.stdout.write('ready\\n');
await hub.runForever();
`;

let fx: RedisFixture;
let childBundle: ChildBundle;
const connections: Connection[] = [];

beforeAll(async () => {
  fx = await redisFixture();
  childBundle = await bundleChild({ source: CHILD, resolveDir: fileURLToPath(new URL('.', import.meta.url)) }, 'holding-consumer');
});
afterAll(async () => {
  for (const c of connections) await c.close();
  childBundle?.remove();
  await fx.close();
});

const queueLengths = () => Promise.all([QUEUE, `${QUEUE}${SEP}3`, `${QUEUE}${SEP}6`, `${QUEUE}${SEP}9`].map((k) => fx.redis.llen(k)));

it(`redelivers exactly the ${HELD} messages a SIGKILLed consumer held, after the visibility timeout, to another consumer`, { timeout: 60_000 }, async () => {
  const queue = new Queue(QUEUE, { exchange: new Exchange(''), routingKey: QUEUE });
  const publisher = new Connection(fx.db.url);
  connections.push(publisher);
  const producer = new Producer(publisher);
  const published = new Map<string, number>();
  for (let n = 0; n < HELD; n++) {
    const result = await producer.publish({ n }, { routingKey: QUEUE, declare: n === 0 ? [queue] : [] });
    published.set(result.deliveryTag, n);
  }
  expect(published.size).toBe(HELD);
  expect(await queueLengths()).toEqual([HELD, 0, 0, 0]);

  // Step 1: the child takes all 100 (prefetch 150) and holds them unacked.
  const child = spawn(process.execPath, [childBundle.file, fx.db.url, QUEUE, String(PREFETCH)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const heldTags = () => out.split('\n').filter((l) => l && l !== 'ready');
  const deadline = Date.now() + 20_000;
  while (heldTags().length < HELD && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  // A moment longer, to prove it holds no more than exist (and its pops are all answered).
  await new Promise((r) => setTimeout(r, 300));
  const held = heldTags();
  expect(err).toBe('');
  expect([...held].sort()).toEqual([...published.keys()].sort());
  expect(await queueLengths()).toEqual([0, 0, 0, 0]);
  expect((await fx.redis.hkeys('unacked')).sort()).toEqual([...held].sort());
  expect(await fx.redis.zcard('unacked_index')).toBe(HELD);

  // Step 2: SIGKILL. Nothing closes, nothing restores: the 100 stay in unacked.
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  const killedAt = Date.now();
  expect((await fx.redis.hkeys('unacked')).sort()).toEqual([...held].sort());
  expect(await fx.redis.zcard('unacked_index')).toBe(HELD);
  expect(await queueLengths()).toEqual([0, 0, 0, 0]);

  // Step 3: another consumer, whose sweeper runs five times a second with a 2 s visibility timeout.
  const connection = new Connection(fx.db.url, {
    transportOptions: { visibility_timeout: VISIBILITY, unacked_restore_interval: 0.2, unacked_restore_throttle: 1 },
  });
  connections.push(connection);
  const got: Array<{ tag: string; n: number; redelivered: boolean; at: number }> = [];
  const acks: Promise<void>[] = [];
  const consumer = new Consumer(connection, queue, {
    prefetchCount: PREFETCH,
    onMessage: (m: Message) => {
      got.push({ tag: m.deliveryTag, n: (m.decode() as { n: number }).n, redelivered: m.redelivered, at: Date.now() });
      acks.push(m.ack());
    },
  });
  connection.registerWithEventLoop(connection.hub);
  await consumer.consume();
  const hub = connection.hub;
  const until = Date.now() + 20_000;
  while (got.length < HELD && Date.now() < until) await hub.runUntil(() => got.length >= HELD, { timeoutMs: 50 });
  await Promise.all(acks);
  // Run on a little: no 101st delivery (no duplicate restore).
  const settle = Date.now() + 500;
  while (Date.now() < settle) await hub.runUntil(() => false, { timeoutMs: 50 });

  expect(got.length).toBe(HELD);
  expect(got.map((g) => g.tag).sort()).toEqual([...held].sort());
  expect(got.every((g) => g.redelivered)).toBe(true);
  expect(got.map((g) => g.n).sort((a, b) => a - b)).toEqual(Array.from({ length: HELD }, (_, i) => i));
  expect(got.every((g) => published.get(g.tag) === g.n)).toBe(true);
  // Not before the visibility timeout: the child popped them before killedAt, so allow for that.
  expect(Math.min(...got.map((g) => g.at)) - killedAt).toBeGreaterThanOrEqual(VISIBILITY * 1000 - 1000);
  expect(await queueLengths()).toEqual([0, 0, 0, 0]);
  expect([await fx.redis.hlen('unacked'), await fx.redis.zcard('unacked_index')]).toEqual([0, 0]);
});
