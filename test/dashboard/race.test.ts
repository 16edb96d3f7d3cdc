/**
 * Repairs while workers consume: a Python Kombu consumer and a kelp consumer drain a queue of
 * 5,000 messages while the dashboard moves them to another queue and deletes some. Every
 * message must end up exactly once: consumed by one side, moved, or deleted; none twice, none lost.
 */
import { Buffer } from 'node:buffer';
import { Connection, Consumer, Queue } from 'kelp';
import type { Dashboard } from '@kelp/dashboard';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kombu, type PyMessage } from '../interop/kombu-peer.js';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';
import { act, dashboardFor, getJson } from './helpers.js';

const COUNT = 5000;
let db: FreshDb;
let redis: Redis;
let dashboard: Dashboard;

/** A Kombu 5.2.4 envelope for body { n } sent to `queue` through the default exchange. */
const envelope = (n: number, queue: string) =>
  JSON.stringify({
    body: Buffer.from(JSON.stringify({ n })).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {},
    properties: { delivery_mode: 2, delivery_info: { exchange: '', routing_key: queue }, priority: 0, body_encoding: 'base64', delivery_tag: `race-${n}` },
  });

const numbers = (raws: string[]) => raws.map((raw) => (JSON.parse(Buffer.from((JSON.parse(raw) as { body: string }).body, 'base64').toString()) as { n: number }).n);

beforeAll(async () => {
  db = await freshDb();
  redis = new Redis(db.url);
  for (let from = 0; from < COUNT; from += 1000) {
    const pipeline = redis.pipeline();
    for (let n = from; n < from + 1000; n++) pipeline.lpush('race.src', envelope(n, 'race.src'));
    await pipeline.exec();
  }
  dashboard = await dashboardFor(db.url);
});
afterAll(async () => {
  await dashboard?.close();
  await redis?.quit();
});

describe('repairs while Python and Node workers consume the same queue', () => {
  it('moves and deletes without losing or duplicating a message', async () => {
    const python = kombu<{ messages: PyMessage[] }>('consume', { url: db.url, exchange: '', queue: 'race.src', binding_key: 'race.src', count: COUNT, timeout: 4, ack: true });
    const connection = new Connection(db.url);
    const node: number[] = [];
    const consumer = new Consumer(connection, new Queue('race.src', { routingKey: 'race.src' }), {
      prefetchCount: 20,
      callbacks: [
        async (body, message) => {
          node.push((body as { n: number }).n);
          await message.ack();
        },
      ],
    });
    await consumer.consume();
    let stopped = false;
    const draining = (async () => {
      while (!stopped) await connection.drainEvents({ timeout: 0.2 }).catch(() => undefined);
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));

    const deleted: number[] = [];
    const page = (await getJson<{ items: { id: string; view: { body: { text: string } } }[] }>(dashboard, '/api/queues/race.src/messages?order=newest&limit=5')).body;
    for (const item of page.items) {
      const result = await act<{ deleted: boolean }>(dashboard, 'delete', { queue: 'race.src', step: 0, id: item.id });
      if (result.body.deleted) deleted.push((JSON.parse(item.view.body.text) as { n: number }).n);
    }
    const moved = (await act<{ moved: number }>(dashboard, 'move', { from: 'race.src', to: 'race.dst' })).body.moved;

    const fromPython = (await python).messages.map((m) => (m.body as { n: number }).n);
    stopped = true;
    await draining;
    await consumer.cancel();
    await connection.close();
    const inDst = numbers(await redis.lrange('race.dst', 0, -1));
    const left = numbers(await redis.lrange('race.src', 0, -1));

    const all = [...fromPython, ...node, ...inDst, ...left, ...deleted];
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(COUNT);
    expect(inDst.length).toBe(moved);
    expect(deleted.length).toBe(5);
    expect(await redis.hlen('unacked')).toBe(0);
    process.stdout.write(`race: python ${fromPython.length}, node ${node.length}, moved ${moved}, deleted ${deleted.length}, left ${left.length}\n`);
  });
});
