/**
 * Reading and writing Kombu's Redis layout straight from the tests, written from the wire spec
 * (docs/wire-format.md: envelope, keys, ack emulation), never from the library under test, so a
 * test cannot agree with a bug.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export const SEP = '\x06\x16';
export const STEPS = [0, 3, 6, 9] as const;

/** Every priority list of a queue, step 0 (bare name) first. */
export const queueKeys = (queue: string): string[] => STEPS.map((s) => (s === 0 ? queue : `${queue}${SEP}${s}`));
/** kelp's dead-letter list of a queue (keys.ts: `<q><sep>dead`). */
export const deadLetterKey = (queue: string): string => `${queue}${SEP}dead`;

export async function queueLength(redis: Redis, queue: string): Promise<number> {
  let total = 0;
  for (const key of queueKeys(queue)) total += await redis.llen(key);
  return total;
}

/**
 * A Kombu 5.2.4 envelope as Python's Producer.publish writes it (docs/wire-format.md#envelope),
 * JSON body.
 */
export function kombuEnvelope(
  body: unknown,
  queue: string,
  options: { headers?: Record<string, unknown>; tag?: string; priority?: number } = {},
): { tag: string; json: string } {
  const tag = options.tag ?? randomUUID();
  const json = JSON.stringify({
    body: Buffer.from(JSON.stringify(body)).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: options.headers ?? {},
    properties: {
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: queue },
      priority: options.priority ?? 0,
      body_encoding: 'base64',
      delivery_tag: tag,
    },
  });
  return { tag, json };
}

export interface StoredMessage {
  tag: string;
  body: unknown;
  headers: Record<string, unknown>;
  redelivered: boolean;
}

export function parseStored(json: string): StoredMessage {
  const env = JSON.parse(json) as {
    body: string;
    headers?: Record<string, unknown>;
    properties: { delivery_tag: string; body_encoding?: string; delivery_info?: { redelivered?: boolean } };
  };
  const raw = env.properties.body_encoding === 'base64' ? Buffer.from(env.body, 'base64').toString('utf8') : env.body;
  let body: unknown = raw;
  try {
    body = JSON.parse(raw);
  } catch {
    // not JSON: keep the text
  }
  return {
    tag: env.properties.delivery_tag,
    body,
    headers: env.headers ?? {},
    redelivered: env.headers?.['redelivered'] === true || env.properties.delivery_info?.redelivered === true,
  };
}

/** The whole step-0 list from left (back of the FIFO) to right (head: consumed next). */
export async function listMessages(redis: Redis, key: string): Promise<StoredMessage[]> {
  return (await redis.lrange(key, 0, -1)).map(parseStored);
}

/** Ids (body.id) of every message waiting in any priority list of the queue. */
export async function waitingIds(redis: Redis, queue: string): Promise<string[]> {
  const ids: string[] = [];
  for (const key of queueKeys(queue)) {
    for (const m of await listMessages(redis, key)) ids.push(String((m.body as { id?: unknown }).id));
  }
  return ids;
}

/** Ids of the messages in the `unacked` hash that belong to `queue`. */
export async function unackedIds(redis: Redis, queue?: string): Promise<string[]> {
  const entries = await redis.hvals('unacked');
  const ids: string[] = [];
  for (const value of entries) {
    const [env, , routingKey] = JSON.parse(value) as [unknown, string, string];
    if (queue !== undefined && routingKey !== queue) continue;
    ids.push(String((parseStored(JSON.stringify(env)).body as { id?: unknown }).id));
  }
  return ids;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes; resolves with the outcome. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/** A small seeded PRNG (mulberry32) so a chaos run can be replayed from its printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
