/**
 * Dead-letter records of the Redis transport: what kelp LPUSHes to `<queue><sep>dead`
 * (`RedisKeys.deadLetterKey`), how they are read back for `kelp dead-letters`, and how the exact
 * bytes of an envelope are cut out of a Kombu `unacked` hash value.
 *
 * Record (JSON): `{"reason", "queue", "time" (epoch s), "deliveryTag"?, "payload",
 * "payloadEncoding"?: "base64"}`; payload is the original envelope text, or base64 of its bytes
 * when they are not valid UTF-8. The pop script writes `{"reason", "queue_key", "payload",
 * "time"}` (the queue's list key instead of its name); readers accept both.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { DeadLetterEntry } from '@kelp/core';
import { ChannelError } from '@kelp/core';
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/** How often a dead-lettering re-reads an entry that changed under it before giving up. */
const SWAP_RETRIES = 5;

/**
 * Moves the `unacked` record of `tag` to the dead-letter list of `queue` (default: the entry's
 * routing key, else exchange) with the envelope's original bytes: read the entry, build the
 * record, then swap in one Lua step (dead-letter-entry-3.lua) if the entry is unchanged.
 * Undefined when there is no entry (already acked or restored).
 */
export async function deadLetterUnackedEntry(
  client: Redis,
  keys: RedisKeys,
  input: { tag: string; queue: string | undefined; reason: string; now: number },
): Promise<{ queue: string } | undefined> {
  const { tag, reason } = input;
  for (let attempt = 0; attempt < SWAP_RETRIES; attempt++) {
    const value = await client.hgetBuffer(keys.unacked, tag);
    if (value === null) return undefined;
    const target = input.queue ?? routeOfEntry(value) ?? keys.stripPrefix(keys.unacked);
    const record = deadLetterRecord({ reason, queue: target, time: input.now, deliveryTag: tag, payload: envelopeBytes(value) });
    const sha = createHash('sha1').update(value).digest('hex');
    const fn = (client as unknown as Record<string, (...a: string[]) => Promise<unknown>>)['kelpDeadLetterEntry'];
    if (typeof fn !== 'function') throw new Error('Lua script deadLetterEntry is not defined on this client (call defineScripts first)');
    const result = Number(await fn.apply(client, [keys.unacked, keys.unackedIndex, keys.deadLetterKey(target), tag, sha, record]));
    if (result === 0) return undefined;
    if (result === 1) return { queue: target };
  }
  throw new ChannelError(`unacked entry ${tag} kept changing while it was dead-lettered; it stays unacked`);
}

/** The routing key (else exchange) of an `[envelope, exchange, routing_key]` value, if readable. */
function routeOfEntry(value: Buffer): string | undefined {
  try {
    const entry: unknown = JSON.parse(value.toString('utf8'));
    if (!Array.isArray(entry)) return undefined;
    const name = (typeof entry[2] === 'string' && entry[2]) || (typeof entry[1] === 'string' && entry[1]);
    return name || undefined;
  } catch {
    return undefined;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text when they are valid UTF-8, else undefined. */
export function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

export interface DeadLetterRecordInput {
  reason: string;
  queue: string;
  time: number;
  deliveryTag?: string;
  payload: Uint8Array | string;
}

/** The JSON record for a dead letter; binary that is not UTF-8 is kept as base64. */
export function deadLetterRecord(input: DeadLetterRecordInput): string {
  const record: Record<string, unknown> = { reason: input.reason, queue: input.queue, time: input.time };
  if (input.deliveryTag !== undefined) record.deliveryTag = input.deliveryTag;
  if (typeof input.payload === 'string') record.payload = input.payload;
  else {
    const text = utf8OrUndefined(input.payload);
    if (text !== undefined) record.payload = text;
    else {
      record.payload = Buffer.from(input.payload).toString('base64');
      record.payloadEncoding = 'base64';
    }
  }
  return JSON.stringify(record);
}

/** A stored record read back; undefined fields when the record itself is damaged. */
export function readDeadLetterRecord(raw: Buffer, queue: string, keys: RedisKeys): DeadLetterEntry {
  let text = utf8OrUndefined(raw);
  // The pop script copies invalid UTF-8 bytes into its JSON as they are: read those as latin1
  // (one char per byte) so the original bytes can be recovered exactly.
  const latin1 = text === undefined;
  if (latin1) text = raw.toString('latin1');
  let data: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text as string);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) data = parsed as Record<string, unknown>;
  } catch {
    data = undefined;
  }
  if (!data) return { queue, reason: 'unreadable dead-letter record', raw: raw.toString('base64'), rawEncoding: 'base64' };
  const entry: DeadLetterEntry = {
    queue: typeof data.queue === 'string' ? data.queue : typeof data.queue_key === 'string' ? keys.queueFromKey(data.queue_key) : queue,
    reason: typeof data.reason === 'string' ? data.reason : '',
    raw: '',
    rawEncoding: 'utf8',
  };
  if (typeof data.time === 'number') entry.at = data.time;
  if (typeof data.deliveryTag === 'string') entry.deliveryTag = data.deliveryTag;
  const payload = typeof data.payload === 'string' ? data.payload : '';
  if (data.payloadEncoding === 'base64') {
    entry.raw = payload;
    entry.rawEncoding = 'base64';
  } else if (latin1) {
    const bytes = Buffer.from(payload, 'latin1');
    const asText = utf8OrUndefined(bytes);
    if (asText !== undefined) entry.raw = asText;
    else {
      entry.raw = bytes.toString('base64');
      entry.rawEncoding = 'base64';
    }
  } else entry.raw = payload;
  return entry;
}

/** The envelope's original bytes within an `unacked` value, or the whole value when it has no envelope. */
export function envelopeBytes(value: Buffer): Buffer {
  const span = envelopeSpan(value);
  return span ? value.subarray(span[0], span[1]) : value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The byte range of the first element (the envelope object) of a `[envelope, exchange,
 * routing_key]` hash value, found by scanning brackets and strings, so the envelope's original
 * bytes can be kept exactly (Kombu and kelp both write it that way; re-encoding would not be).
 * Undefined when the value does not start with `[{`.
 */
function envelopeSpan(value: Uint8Array): [number, number] | undefined {
  let i = 0;
  const skipSpace = () => {
    while (i < value.length && (value[i] === 0x20 || value[i] === 0x0a || value[i] === 0x0d || value[i] === 0x09)) i++;
  };
  skipSpace();
  if (value[i] !== 0x5b) return undefined;
  i++;
  skipSpace();
  if (value[i] !== 0x7b) return undefined;
  const start = i;
  let depth = 0;
  let inString = false;
  for (; i < value.length; i++) {
    const c = value[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return [start, i + 1];
    }
  }
  return undefined;
}
