/**
 * Issue 3 item 7, the full matrix: direct, topic and fanout exchanges x json and msgpack, with
 * gzip/zlib compression, headers, correlationId/replyTo and priorities, published by kelp and
 * consumed by Python Kombu 5.2.4, and the other way round. Bodies, headers, properties,
 * priority order (Kombu's: step 0 first, FIFO within a step) and the Redis keys are checked.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Connection, Consumer, Exchange, Producer, Queue, type Message } from 'kelp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisFixture, SEP, type RedisFixture } from '../redis/helpers.js';

const script = fileURLToPath(new URL('./kombu_matrix.py', import.meta.url));

function py<T>(command: string, args: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', [script, command, JSON.stringify(args)], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`kombu_matrix.py ${command} failed: ${error.message}\n${stderr}`));
      const lines = stdout.trim().split('\n');
      resolve(JSON.parse(lines[lines.length - 1] as string) as T);
    });
  });
}

interface PyMessage {
  body: unknown;
  headers: Record<string, unknown>;
  priority: number;
  correlation_id: string | null;
  reply_to: string | null;
  content_type: string;
  content_encoding: string;
  routing_key: string;
  exchange: string;
}

type Serializer = 'json' | 'msgpack';
type ExchangeType = 'direct' | 'topic' | 'fanout';
interface Spec {
  body: Record<string, unknown>;
  priority: number;
  compression: 'gzip' | 'zlib' | undefined;
  headers: Record<string, string | number>;
  correlationId: string;
  replyTo: string;
}

const N = 8;
const PRIORITIES = [9, 0, 5, 3, 6, 2, 0, 9];
const CONTENT: Record<Serializer, [string, string]> = { json: ['application/json', 'utf-8'], msgpack: ['application/x-msgpack', 'binary'] };
// `pattern` is the middle field of Kombu's binding member: the compiled regex for topic bindings.
const ROUTES: Record<ExchangeType, { rk: string; bk: string; pattern: string }> = {
  direct: { rk: 'wm.rk', bk: 'wm.rk', pattern: '' },
  topic: { rk: 'wm.stock.usd.nyse', bk: 'wm.stock.#', pattern: '^wm\\.stock\\..*?$' },
  fanout: { rk: '', bk: '', pattern: '' },
};

function matrix(tag: string): Spec[] {
  return PRIORITIES.map((priority, i) => ({
    body: { i, tag, text: 'héllo ✓ wörld', list: [1, -2, true, null, 'x'], nested: { k: 'v', n: 1234567 } },
    priority,
    // gzip and zlib are the same codec (a ZLIB stream, header application/x-gzip); one in three plain.
    compression: i % 3 === 0 ? 'gzip' : i % 3 === 1 ? 'zlib' : undefined,
    headers: { 'x-i': i, 'x-tag': tag },
    correlationId: `corr-${tag}-${i}`,
    replyTo: `reply-${tag}-${i}`,
  }));
}

/** Kombu's Redis priority step (default steps 0, 3, 6, 9): the largest step not above the priority. */
const step = (p: number) => [0, 3, 6, 9].filter((s) => s <= p).pop() as number;

/** The order a consumer sees: priority-step order, FIFO within a step; fanout (pub/sub) keeps publish order. */
function expectedOrder(specs: Spec[], type: ExchangeType): Spec[] {
  if (type === 'fanout') return specs;
  return specs.map((s, i) => ({ s, i })).sort((a, b) => step(a.s.priority) - step(b.s.priority) || a.i - b.i).map(({ s }) => s);
}

const expectedHeaders = (s: Spec) => ({ ...s.headers, ...(s.compression ? { compression: 'application/x-gzip' } : {}) });

/** Lengths of a queue's list and its three priority sub-lists. */
async function lengths(redis: Redis, queue: string): Promise<number[]> {
  return Promise.all([queue, `${queue}${SEP}3`, `${queue}${SEP}6`, `${queue}${SEP}9`].map((k) => redis.llen(k)));
}

function expectedLengths(specs: Spec[]): number[] {
  return [0, 3, 6, 9].map((s) => specs.filter((m) => step(m.priority) === s).length);
}

/** PSUBSCRIBE patterns held by clients on `db` (CLIENT LIST), so other test files' subscribers never count. */
async function patternSubscribers(redis: Redis, db: number): Promise<number> {
  const list = String(await redis.call('CLIENT', 'LIST'));
  return list
    .split('\n')
    .filter((line) => line.includes(` db=${db} `))
    .reduce((n, line) => n + Number(/ psub=(\d+)/.exec(line)?.[1] ?? 0), 0);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

let fx: RedisFixture;
const connections: Connection[] = [];
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(async () => {
  for (const c of connections) await c.close();
  await fx.close();
});

async function expectNoUnacked(): Promise<void> {
  expect([await fx.redis.hlen('unacked'), await fx.redis.zcard('unacked_index')]).toEqual([0, 0]);
}

for (const type of ['direct', 'topic', 'fanout'] as const) {
  for (const serializer of ['json', 'msgpack'] as const) {
    const { rk, bk, pattern } = ROUTES[type];

    describe(`${type} exchange, ${serializer}`, () => {
      it(`a Kombu consumer receives exactly the ${N} messages kelp published, with their headers and properties, in Kombu's priority order`, async () => {
        const tag = `k2p-${type}-${serializer}`;
        const exchange = `wmx.${tag}`;
        const queue = `wmq.${tag}`;
        const specs = matrix(tag);
        const connection = new Connection(fx.db.url);
        connections.push(connection);
        const kelpQueue = new Queue(queue, { exchange: new Exchange(exchange, { type }), routingKey: bk });
        const producer = new Producer(connection, { exchange: new Exchange(exchange, { type }), serializer });
        const consumeArgs = { url: fx.db.url, exchange, type, queue, binding_key: bk, count: N, timeout: 20 };
        let consuming: Promise<{ messages: PyMessage[] }> | undefined;
        if (type === 'fanout') {
          // Fanout goes over PUBLISH: the Kombu consumer must be subscribed before kelp publishes.
          const before = await patternSubscribers(fx.redis, fx.db.db);
          consuming = py('mx-consume', consumeArgs);
          expect(await waitFor(async () => (await patternSubscribers(fx.redis, fx.db.db)) > before)).toBe(true);
        }
        const statuses: string[] = [];
        for (const s of specs) {
          const result = await producer.publish(s.body, {
            routingKey: rk,
            serializer,
            compression: s.compression,
            headers: s.headers,
            priority: s.priority,
            correlationId: s.correlationId,
            replyTo: s.replyTo,
            declare: type === 'fanout' ? [] : [kelpQueue],
          });
          statuses.push(result.status);
        }
        expect(statuses).toEqual(specs.map(() => 'routed'));
        expect(await fx.redis.smembers(`_kombu.binding.${exchange}`)).toEqual([`${bk}${SEP}${pattern}${SEP}${queue}`]);
        // Stored lists: every message in the sub-list of its priority step; none for fanout.
        expect(await lengths(fx.redis, queue)).toEqual(type === 'fanout' ? [0, 0, 0, 0] : expectedLengths(specs));

        const got = await (consuming ?? py<{ messages: PyMessage[] }>('mx-consume', consumeArgs));
        const [contentType, contentEncoding] = CONTENT[serializer];
        expect(got.messages.map((m) => m.body)).toEqual(expectedOrder(specs, type).map((s) => s.body));
        expect(got.messages.map((m) => [m.priority, m.headers, m.correlation_id, m.reply_to, m.content_type, m.content_encoding, m.exchange, m.routing_key])).toEqual(
          expectedOrder(specs, type).map((s) => [s.priority, expectedHeaders(s), s.correlationId, s.replyTo, contentType, contentEncoding, exchange, rk]),
        );
        expect(await lengths(fx.redis, queue)).toEqual([0, 0, 0, 0]);
        await expectNoUnacked();
      });

      it(`a kelp consumer receives exactly the ${N} messages Kombu published, with their headers and properties, in Kombu's priority order`, async () => {
        const tag = `p2k-${type}-${serializer}`;
        const exchange = `wmx.${tag}`;
        const queue = `wmq.${tag}`;
        const specs = matrix(tag);
        const publishArgs = {
          url: fx.db.url,
          exchange,
          type,
          routing_key: rk,
          queue,
          binding_key: bk,
          declare_queue: type !== 'fanout',
          messages: specs.map((s) => ({
            body: s.body,
            serializer,
            // Kombu names the codec 'gzip' or 'zlib' too (aliases of one compressor).
            compression: s.compression,
            headers: s.headers,
            priority: s.priority,
            correlation_id: s.correlationId,
            reply_to: s.replyTo,
          })),
        };

        const connection = new Connection(fx.db.url);
        connections.push(connection);
        const got: Message[] = [];
        const acks: Promise<void>[] = [];
        const consumer = new Consumer(connection, new Queue(queue, { exchange: new Exchange(exchange, { type }), routingKey: bk }), {
          accept: ['json', 'msgpack'],
          prefetchCount: 2 * N,
          onMessage: (m) => {
            got.push(m);
            acks.push(m.ack());
          },
        });
        const hub = connection.hub;
        const spin = async (done: () => boolean, ms: number) => {
          const deadline = Date.now() + ms;
          while (!done() && Date.now() < deadline) await hub.runUntil(done, { timeoutMs: 25 });
        };

        if (type === 'fanout') {
          const before = await patternSubscribers(fx.redis, fx.db.db);
          connection.registerWithEventLoop(hub);
          await consumer.consume();
          let subscribed = false;
          const watching = waitFor(async () => (subscribed = (await patternSubscribers(fx.redis, fx.db.db)) > before));
          await spin(() => subscribed, 15_000);
          expect(await watching).toBe(true);
          expect(await fx.redis.smembers(`_kombu.binding.${exchange}`)).toEqual([`${bk}${SEP}${pattern}${SEP}${queue}`]);
          let published: { published: number } | undefined;
          const publishing = py<{ published: number }>('mx-publish', publishArgs).then((r) => (published = r));
          await spin(() => got.length >= N && published !== undefined, 20_000);
          await publishing;
        } else {
          expect(await py('mx-publish', publishArgs)).toEqual({ published: N });
          expect(await fx.redis.smembers(`_kombu.binding.${exchange}`)).toEqual([`${bk}${SEP}${pattern}${SEP}${queue}`]);
          expect(await lengths(fx.redis, queue)).toEqual(expectedLengths(specs));
          connection.registerWithEventLoop(hub);
          await consumer.consume();
          await spin(() => got.length >= N, 20_000);
        }
        await Promise.all(acks);
        // Nothing beyond the N published arrives.
        await spin(() => false, 200);

        const [contentType, contentEncoding] = CONTENT[serializer];
        expect(got.map((m) => m.decode())).toEqual(expectedOrder(specs, type).map((s) => s.body));
        expect(
          got.map((m) => [m.properties.priority, m.headers, m.properties.correlationId, m.properties.replyTo, m.contentType, m.contentEncoding, m.deliveryInfo.exchange, m.deliveryInfo.routingKey, m.redelivered]),
        ).toEqual(expectedOrder(specs, type).map((s) => [s.priority, expectedHeaders(s), s.correlationId, s.replyTo, contentType, contentEncoding, exchange, rk, false]));
        expect(new Set(got.map((m) => m.deliveryTag)).size).toBe(N);
        expect(await lengths(fx.redis, queue)).toEqual([0, 0, 0, 0]);
        await expectNoUnacked();
      });
    });
  }
}
