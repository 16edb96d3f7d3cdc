/**
 * Shared pieces of the Redis integration tests: a transport on a fresh db, a raw ioredis client
 * on the same db to inspect keys, and a way to run the Hub until deliveries arrived.
 */
import { parseUrl, type Delivery, type OutboundMessage } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport, type RedisChannel } from '@kelp/transport-redis';
import { Redis } from 'ioredis';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';

export const SEP = '\x06\x16';

export interface RedisFixture {
  db: FreshDb;
  redis: Redis;
  transports: RedisTransport[];
  hubs: Hub[];
  newTransport(transportOptions?: Record<string, unknown>): Promise<{ transport: RedisTransport; hub: Hub; channel: RedisChannel }>;
  close(): Promise<void>;
}

export async function redisFixture(): Promise<RedisFixture> {
  const db = await freshDb();
  const redis = new Redis(db.url);
  const fixture: RedisFixture = {
    db,
    redis,
    transports: [],
    hubs: [],
    async newTransport(transportOptions = {}) {
      const transport = new RedisTransport(parseUrl(db.url, { transportOptions }));
      await transport.connect();
      const hub = new Hub();
      transport.registerWithEventLoop(hub);
      fixture.transports.push(transport);
      fixture.hubs.push(hub);
      const channel = (await transport.createChannel()) as RedisChannel;
      return { transport, hub, channel };
    },
    async close() {
      for (const t of fixture.transports) await t.close();
      for (const h of fixture.hubs) h.close();
      await redis.quit();
    },
  };
  return fixture;
}

export function message(body: unknown, properties: OutboundMessage['properties'] = {}, headers: OutboundMessage['headers'] = {}): OutboundMessage {
  return {
    body: new TextEncoder().encode(JSON.stringify(body)),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers,
    properties,
  };
}

export function bodyOf(delivery: Delivery): unknown {
  return JSON.parse(new TextDecoder().decode(delivery.body));
}

/**
 * Runs the hub in short slices until `done()` holds: conditions that depend on the outside world
 * (a pub/sub subscription showing up, another client's push) do not wake a sleeping hub.
 */
export async function spinUntil(hub: Hub, done: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await hub.runUntil(done, { timeoutMs: 25 });
  return done();
}

/** Runs the hub until `count` deliveries were collected (or the time runs out). */
export async function collect(hub: Hub, deliveries: Delivery[], count: number, timeoutMs = 5000): Promise<Delivery[]> {
  await hub.runUntil(() => deliveries.length >= count, { timeoutMs });
  return deliveries;
}

/** Runs the hub for a while (to prove nothing more arrives). */
export async function runFor(hub: Hub, ms: number): Promise<void> {
  await hub.runUntil(() => false, { timeoutMs: ms });
}

/** Polls `check` (outside any hub) until it holds; false after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}
