/**
 * Visibility extension (issue 4, item 3): a handler that runs longer than the visibility timeout
 * is delivered exactly once when it extends its visibility (by hand or with the consumer's
 * keep-alive), and a Celery ETA message held unacked until due is scored at its due time, so
 * neither kelp's sweeper nor Python Kombu's restores it early.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Connection, Queue, type ConsumerOptions, type Message } from 'kelp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePython } from '../setup/prerequisites.js';
import { repoRoot } from './support/bundle.js';
import { consumeInProcess, type RunningConsumer } from './support/in-process.js';
import { kombuEnvelope, queueLength, sleep, waitFor } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';
import { reportScenario } from './support/report.js';

// Two seconds: long enough that a busy shared CPU stalling this process for a moment does not
// let a sweeper (Kombu's runs in its own process) restore a message that is being worked on.
const VISIBILITY = 2;
// Sweep five times a second with no throttle: a message left visible is restored within ~2.2 s.
const transportOptions = { visibility_timeout: VISIBILITY, unacked_restore_interval: 0.2, unacked_restore_throttle: 1 };
/** The consumer option that extends a held message's visibility automatically (consumer-keep-alive.ts). */
const KEEP_ALIVE_OPTION: ConsumerOptions = { keepAlive: true };

let redis: FaultRedis;
let admin: Redis;
const open: Array<{ connection: Connection; running: RunningConsumer }> = [];

beforeAll(async () => {
  redis = await FaultRedis.start();
  admin = redis.admin();
});
afterAll(async () => {
  for (const { connection, running } of open) {
    await running.stop();
    await connection.close();
  }
  await redis?.stop();
});

/** Two consumers (two connections, two sweepers) on one queue, each logging deliveries. */
async function twoConsumers(
  queue: string,
  handler: (message: Message) => Promise<void>,
  extra: ConsumerOptions = {},
  options: Record<string, unknown> = transportOptions,
) {
  const deliveries: Array<{ id: string; redelivered: boolean; at: number }> = [];
  const consumers = [];
  for (let i = 0; i < 2; i++) {
    const connection = new Connection(redis.url(0), { transportOptions: options });
    const consumerOptions: ConsumerOptions = {
      prefetchCount: 1,
      onMessage: async (message: Message) => {
        deliveries.push({ id: String((message.decode() as { id: string }).id), redelivered: message.redelivered, at: Date.now() });
        await handler(message);
      },
      ...extra,
    };
    const running = await consumeInProcess(connection, new Queue(queue), consumerOptions);
    open.push({ connection, running });
    consumers.push(running);
  }
  return { deliveries };
}

/** Samples the queue length every 50 ms until stopped; resolves with the largest length seen. */
function watchQueue(queue: string): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await queueLength(admin, queue));
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return max;
    },
  };
}

/**
 * Runs Python Kombu's restore_visible next to kelp for `seconds`; resolves with its sweep count.
 * Throws when Debian's Kombu is missing, rejects when the sweeper fails.
 */
function kombuSweeper(seconds: number): Promise<number> {
  const python = requirePython(['kombu', 'redis']);
  const child = spawn(python, [join(repoRoot, 'test', 'faults', 'support', 'kombu-sweeper.py'), redis.url(0), String(seconds), String(VISIBILITY)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const sweeps = new Promise<number>((resolve, reject) =>
    child.once('close', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`kombu-sweeper.py exited ${code}: ${out}`)))),
  );
  sweeps.catch(() => undefined);
  return sweeps;
}

/** Sweeps a Kombu sweeper running `seconds` at one every 0.2 s makes at the least (half). */
const fewestSweeps = (seconds: number): number => (seconds / 0.2) * 0.5;

describe('a handler longer than the visibility timeout', () => {
  it('is delivered exactly once when it calls message.extendVisibility while it works', async () => {
    const queue = 'extend-by-hand';
    let acked = 0;
    const { deliveries } = await twoConsumers(queue, async (message) => {
      // 4.5 s of work against a 2 s visibility timeout, extending by 3 s every half second.
      for (let i = 0; i < 9; i++) {
        await message.extendVisibility(3);
        await sleep(500);
      }
      await message.ack();
      acked += 1;
    });
    const watch = watchQueue(queue);
    const sweeper = kombuSweeper(5);
    await admin.lpush(queue, kombuEnvelope({ id: 'long-1' }, queue).json);
    await waitFor(() => acked === 1, 10_000);
    await sleep(1_500);
    const maxWaiting = await watch.stop();
    const kombuSweeps = await sweeper;
    reportScenario('visibility-extend', { published: 1, acked, redelivered: deliveries.length - 1, deadLettered: 0, lost: 1 - acked, extra: { maxWaiting, kombuSweeps } });
    expect(deliveries.map((d) => d.id)).toEqual(['long-1']);
    expect(acked).toBe(1);
    expect(maxWaiting).toBe(0);
    expect(await admin.hlen('unacked')).toBe(0);
    expect(kombuSweeps).toBeGreaterThan(fewestSweeps(5));
  });

  it('is delivered exactly once with the consumer keep-alive option and no extendVisibility call', async () => {
    const queue = 'extend-keepalive';
    let acked = 0;
    const { deliveries } = await twoConsumers(
      queue,
      async (message) => {
        await sleep(4_500);
        await message.ack();
        acked += 1;
      },
      KEEP_ALIVE_OPTION,
    );
    const watch = watchQueue(queue);
    await admin.lpush(queue, kombuEnvelope({ id: 'long-2' }, queue).json);
    await waitFor(() => acked >= 1, 10_000);
    await sleep(1_500);
    const maxWaiting = await watch.stop();
    reportScenario('visibility-keepalive', { published: 1, acked, redelivered: deliveries.length - 1, deadLettered: 0, lost: acked > 0 ? 0 : 1, extra: { maxWaiting } });
    expect(deliveries.map((d) => d.id)).toEqual(['long-2']);
    expect(acked).toBe(1);
    expect(maxWaiting).toBe(0);
    expect(await admin.hlen('unacked')).toBe(0);
  });
});

describe('control: the sweepers are live', () => {
  it('lets Python Kombu alone redeliver a message held past the visibility timeout without extension', async () => {
    const queue = 'control-kombu';
    let released = false;
    // kelp's own sweeps are an hour apart here: only Kombu's sweeper can bring the message back.
    const { deliveries } = await twoConsumers(
      queue,
      async (message) => {
        await waitFor(() => released, 10_000);
        await message.ack().catch(() => undefined);
      },
      {},
      { visibility_timeout: VISIBILITY, unacked_restore_interval: 3600 },
    );
    const sweeper = kombuSweeper(5);
    await admin.lpush(queue, kombuEnvelope({ id: 'held-1' }, queue).json);
    await waitFor(() => deliveries.length >= 2, 8_000);
    released = true;
    const kombuSweeps = await sweeper;
    reportScenario('visibility-control', { published: 1, acked: 1, redelivered: deliveries.length - 1, deadLettered: 0, lost: 0, extra: { kombuSweeps } });
    expect(deliveries.map((d) => d.id).slice(0, 2)).toEqual(['held-1', 'held-1']);
    expect(deliveries[1]?.redelivered).toBe(true);
  });
});

describe('a Celery ETA message held unacked until due', () => {
  it('is scored at its ETA in unacked_index and never restored early by kelp or Python Kombu sweepers', { timeout: 30_000 }, async () => {
    const queue = 'eta-held';
    const etaMs = Date.now() + 5_000;
    const eta = new Date(etaMs).toISOString().replace('Z', '+00:00');
    let acked = 0;
    let score: number | undefined;
    const { deliveries } = await twoConsumers(queue, async (message) => {
      // The score may be set right after the delivery is recorded; read it a moment later.
      await sleep(200);
      const now = await admin.zscore('unacked_index', message.deliveryTag);
      if (score === undefined && now !== null) score = Number(now);
      // A Celery worker holds an ETA task unacked until it is due.
      await sleep(Math.max(0, etaMs - Date.now()));
      await message.ack();
      acked += 1;
    });
    const sweeper = kombuSweeper(7);
    const watch = watchQueue(queue);
    const { json } = kombuEnvelope({ id: 'eta-1' }, queue, {
      headers: { lang: 'py', task: 'tasks.add', id: 'eta-1', eta, expires: null, retries: 0 },
    });
    await admin.lpush(queue, json);
    await waitFor(() => acked >= 1, 15_000);
    await sleep(1_000);
    const kombuSweeps = await sweeper;
    const maxWaiting = await watch.stop();
    reportScenario('visibility-eta', {
      published: 1,
      acked,
      redelivered: deliveries.length - 1,
      deadLettered: 0,
      lost: acked > 0 ? 0 : 1,
      extra: { maxWaiting, scoreMinusEta: score === undefined ? 'none' : (score - etaMs / 1000).toFixed(2), kombuSweeps },
    });
    expect(deliveries.map((d) => d.id)).toEqual(['eta-1']);
    expect(Math.abs((score ?? 0) - etaMs / 1000)).toBeLessThan(0.5);
    expect(maxWaiting).toBe(0);
    expect(acked).toBe(1);
    expect(kombuSweeps).toBeGreaterThan(fewestSweeps(7));
  });
});
