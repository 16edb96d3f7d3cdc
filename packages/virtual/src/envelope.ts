/**
 * Kombu's JSON message envelope (spec section 1): what every virtual transport stores in a queue,
 * publishes on a fanout channel and keeps in the unacked store. Writing it is envelope-encode.ts
 * (re-exported here). Reading is tolerant in exactly the
 * ways a Python Kombu 5.2.4 consumer is (docs/wire-format.md#required-fields) and never throws on
 * bad input: a malformed envelope comes back as a typed failure so the caller can dead-letter it.
 */
import { Buffer } from 'node:buffer';
import type { Delivery, HeaderValue, Headers, MessageProperties } from '@kelp/core';
import { z } from 'zod';
import { PROPERTY_CAMEL_NAMES } from './envelope-encode.js';
import { clampPriority } from './priority.js';

export { encodeEnvelope, type EncodeEnvelopeOptions } from './envelope-encode.js';

/** Transport bookkeeping on the wire that is not a message property for the consumer. */
const TRANSPORT_PROPERTIES = new Set(['delivery_info', 'body_encoding', 'delivery_tag']);

const nullableString = z.string().nullable().optional();

/**
 * What a Kombu consumer needs (docs/wire-format.md#required-fields); everything else is optional
 * and kept.
 */
const envelopeSchema = z
  .object({
    body: z.string().nullable().optional(),
    'content-encoding': nullableString,
    'content-type': nullableString,
    headers: z.record(z.string(), z.unknown()).nullable().optional(),
    properties: z
      .object({
        delivery_tag: z.string().min(1, 'properties.delivery_tag is empty'),
        delivery_info: z
          .object({
            exchange: z.string().nullable(),
            routing_key: z.string().nullable(),
            redelivered: z.unknown().optional(),
          })
          .loose(),
        body_encoding: nullableString,
        priority: z.unknown().optional(),
      })
      .loose(),
  })
  .loose();

/** A validated envelope with its body already decoded to bytes. */
export interface ParsedEnvelope {
  /** The JSON text as read from storage (kept for the unacked store and dead-lettering). */
  readonly raw: string;
  readonly body: Uint8Array;
  readonly contentType: string | null;
  readonly contentEncoding: string | null;
  readonly headers: Headers;
  /** The wire (snake_case) properties, including delivery_info, body_encoding and delivery_tag. */
  readonly properties: Readonly<Record<string, unknown>>;
  readonly deliveryTag: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  /** Clamped to 0..9 with Python `int()` coercion; 0 when missing or invalid. */
  readonly priority: number;
}

export type ParseEnvelopeResult = { ok: true; envelope: ParsedEnvelope } | { ok: false; reason: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The decoded bytes as a plain Uint8Array view of the Buffer Node decoded into (no second copy;
 * a Buffer itself would compare and serialize differently from the Uint8Array callers expect).
 */
const view = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);

/**
 * Base64 without the regex pass: Node's decoder skips characters outside the alphabet (and stops
 * at a stray '='), so an input is exactly standard base64 when it decodes to the length its size
 * implies and holds no '-'/'_' (the URL-safe letters Node also accepts). Anything else (whitespace
 * included) returns undefined and goes through the strict path for a precise verdict.
 */
function decodeBase64Fast(body: string): Uint8Array | undefined {
  let end = body.length;
  if (end % 4 === 1) return undefined;
  if (body.charCodeAt(end - 1) === 61 /* = */) end -= body.charCodeAt(end - 2) === 61 ? 2 : 1;
  if (end % 4 === 1) return undefined;
  const bytes = Buffer.from(body, 'base64');
  if (bytes.length !== Math.floor((end * 3) / 4) || body.includes('-') || body.includes('_')) return undefined;
  return view(bytes);
}

function decodeBody(body: string | null | undefined, encoding: string | null | undefined): Uint8Array | string {
  if (body === null || body === undefined || body === '') return new Uint8Array(0);
  // Kombu HEAD treats "utf-8" as "no codec"; a missing encoding means the body is the text itself.
  if (!encoding || encoding.toLowerCase() === 'utf-8') return view(Buffer.from(body, 'utf8'));
  if (encoding !== 'base64') return `unsupported properties.body_encoding '${encoding}'`;
  const fast = decodeBase64Fast(body);
  if (fast) return fast;
  const compact = body.replace(/\s+/g, '');
  if (compact.length % 4 === 1 || !BASE64.test(compact)) return 'body is not valid base64';
  return view(Buffer.from(compact, 'base64'));
}

type EnvelopeData = z.infer<typeof envelopeSchema>;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isOptionalString = (value: unknown): boolean => value === undefined || value === null || typeof value === 'string';

/**
 * The schema's checks written out by hand for the common case, several times cheaper than zod.
 * Returns the input when it certainly passes `envelopeSchema`; undefined sends it to zod, which
 * then decides and words the reason, so accepted and rejected envelopes are exactly the schema's.
 */
function checkEnvelopeFast(data: unknown): EnvelopeData | undefined {
  if (!isPlainObject(data)) return undefined;
  if (!isOptionalString(data.body) || !isOptionalString(data['content-encoding']) || !isOptionalString(data['content-type'])) return undefined;
  const headers = data.headers;
  if (headers !== undefined && headers !== null && !isPlainObject(headers)) return undefined;
  const props = data.properties;
  if (!isPlainObject(props)) return undefined;
  if (typeof props.delivery_tag !== 'string' || props.delivery_tag === '' || !isOptionalString(props.body_encoding)) return undefined;
  const info = props.delivery_info;
  if (!isPlainObject(info)) return undefined;
  const { exchange, routing_key: routingKey } = info;
  if ((exchange !== null && typeof exchange !== 'string') || (routingKey !== null && typeof routingKey !== 'string')) return undefined;
  return data as EnvelopeData;
}

/**
 * Validates a stored envelope. Never throws: bad input yields `{ ok: false, reason }`. Every
 * message read from storage goes through here: a hand-written check of the required fields
 * first, zod when that check is not sure (so failure reasons stay precise).
 */
export function parseEnvelope(json: string): ParseEnvelopeResult {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (error) {
    return { ok: false, reason: `envelope is not JSON: ${(error as Error).message}` };
  }
  // Under 2 x MAX_NESTING characters there is no room for that many brackets.
  if (json.length > 2 * MAX_NESTING && nestsDeeperThan(data, MAX_NESTING)) {
    return { ok: false, reason: `envelope nests arrays/objects deeper than ${MAX_NESTING} levels (Redis's cjson and Python's json cannot read it)` };
  }
  let env = checkEnvelopeFast(data);
  if (!env) {
    const result = envelopeSchema.safeParse(data);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue?.path.length ? issue.path.join('.') : 'envelope';
      return { ok: false, reason: `invalid envelope at ${where}: ${issue?.message ?? 'unknown problem'}` };
    }
    env = result.data;
  }
  const props = env.properties;
  const body = decodeBody(env.body, props.body_encoding);
  if (typeof body === 'string') return { ok: false, reason: body };
  const headers = (env.headers ?? {}) as Headers;
  const info = props.delivery_info;
  return {
    ok: true,
    envelope: {
      raw: json,
      body,
      contentType: env['content-type'] ?? null,
      contentEncoding: env['content-encoding'] ?? null,
      headers,
      properties: props,
      deliveryTag: props.delivery_tag,
      exchange: info.exchange ?? '',
      routingKey: info.routing_key ?? '',
      redelivered: headers.redelivered === true || info.redelivered === true,
      priority: clampPriority(props.priority),
    },
  };
}

/**
 * The nesting Redis's cjson decodes (its default decode_max_depth) and about what Python's json
 * gets through before its recursion limit. JSON.parse reads deeper, so without this limit a
 * message would be readable or not depending on which side parsed it.
 */
const MAX_NESTING = 1000;

/**
 * Whether parsed JSON holds arrays/objects more than `limit` levels inside one another (the
 * outermost counts as 1). Walks the parsed value, not the text: the cost follows the number of
 * arrays and objects, not the length of the (base64) body string, which a text scan read char by
 * char at 6x the cost of JSON.parse on a 100 KB envelope. Iterative: V8's JSON.parse reads any
 * depth, and a recursive walk would overflow the stack on what it returns.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const current = values.pop();
    const depth = depths.pop() as number;
    if (current === null || typeof current !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (child === null || typeof child !== 'object') continue;
      values.push(child);
      depths.push(depth + 1);
    }
  }
  return false;
}

/** What the ack store needs from a raw envelope, read without full validation. */
export interface EnvelopeAckInfo {
  deliveryTag: string;
  exchange: string;
  routingKey: string;
  priority: number;
}

/**
 * Extracts the delivery tag, exchange, routing key and priority, or `undefined` when the payload
 * lacks them (such a message cannot be recorded as unacked and will be dead-lettered).
 */
export function readAckInfo(json: string): EnvelopeAckInfo | undefined {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const props = (data as { properties?: unknown }).properties;
  if (typeof props !== 'object' || props === null) return undefined;
  const { delivery_tag: tag, delivery_info: info, priority } = props as Record<string, unknown>;
  if (typeof tag !== 'string' || tag === '' || typeof info !== 'object' || info === null) return undefined;
  const { exchange, routing_key: rk } = info as Record<string, unknown>;
  return {
    deliveryTag: tag,
    exchange: typeof exchange === 'string' ? exchange : '',
    routingKey: typeof rk === 'string' ? rk : '',
    priority: clampPriority(priority),
  };
}

const TAG_KEY = '"delivery_tag":';
const INFO_KEY = '"delivery_info":';

/** Where the one `key` token of `json` is, or -1 when it is missing, repeated or escaped. */
function uniqueKey(json: string, key: string): number {
  const at = json.indexOf(key);
  if (at <= 0 || json.charCodeAt(at - 1) === 92 || json.indexOf(key, at + key.length) >= 0) return -1;
  return at;
}

/**
 * The delivery tag alone, cut out of the text when the envelope is laid out as Kombu and kelp
 * write it, else read by {@link readAckInfo}: what a broker needs to record a delivery, at a
 * fraction of a parse. The layout: `"delivery_info":` once and `"delivery_tag":"<tag>"` once after
 * it (both write properties.delivery_info before properties.delivery_tag; a space after the colon
 * allowed), the value without escapes. A key token not preceded by a backslash can only be a key,
 * so a tag key anywhere else (a header of that name, say) sends the envelope to the full read.
 * What is left (a nested object inside properties holding such a key) the channel catches by
 * comparing the envelope's tag with the recorded one, and brokers check before recording over a
 * record already held (see MemoryBroker.take).
 */
export function readDeliveryTag(json: string): string | undefined {
  const info = uniqueKey(json, INFO_KEY);
  const at = info < 0 ? -1 : uniqueKey(json, TAG_KEY);
  if (at > info) {
    let start = at + TAG_KEY.length;
    if (json.charCodeAt(start) === 32) start += 1;
    if (json.charCodeAt(start) === 34) {
      const end = json.indexOf('"', start + 1);
      const tag = end > start + 1 ? json.slice(start + 1, end) : '';
      if (tag !== '' && !tag.includes('\\')) return tag;
    }
  }
  return readAckInfo(json)?.deliveryTag;
}

/** Maps wire properties to {@link MessageProperties}: known names to camelCase, others unchanged. */
function toMessageProperties(wire: Readonly<Record<string, unknown>>, priority: number): MessageProperties {
  const out: MessageProperties = {};
  // for...in over own keys: Object.entries would allocate an array per property of every message.
  for (const key in wire) {
    if (!Object.hasOwn(wire, key)) continue;
    const value = wire[key];
    if (TRANSPORT_PROPERTIES.has(key) || value === undefined) continue;
    out[PROPERTY_CAMEL_NAMES[key] ?? key] = value as HeaderValue;
  }
  out.priority = priority;
  return out;
}

export interface EnvelopeDeliveryContext {
  queue: string;
  noAck: boolean;
  consumerTag?: string;
}

/** Turns a parsed envelope into the transport-neutral {@link Delivery}. */
export function envelopeToDelivery(parsed: ParsedEnvelope, context: EnvelopeDeliveryContext): Delivery {
  return {
    body: parsed.body,
    contentType: parsed.contentType,
    contentEncoding: parsed.contentEncoding,
    headers: parsed.headers,
    properties: toMessageProperties(parsed.properties, parsed.priority),
    deliveryInfo: {
      exchange: parsed.exchange,
      routingKey: parsed.routingKey,
      redelivered: parsed.redelivered,
      queue: context.queue,
      ...(context.consumerTag === undefined ? {} : { consumerTag: context.consumerTag }),
    },
    deliveryTag: parsed.deliveryTag,
    noAck: context.noAck,
  };
}

/**
 * Header counting kelp's redeliveries of a message (RabbitMQ quorum queues use the same name).
 * Python Kombu neither writes nor reads it, so its own restores do not count.
 */
export const DELIVERY_COUNT_HEADER = 'x-delivery-count';

/** How often kelp redelivered a message (0 when the header is missing or not a number). */
export function deliveryCount(headers: Readonly<Record<string, unknown>> | null | undefined): number {
  const value = Number(headers?.[DELIVERY_COUNT_HEADER] ?? 0);
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/**
 * Sets Kombu's redelivery markers on a parsed envelope object in place
 * (docs/wire-format.md#redelivery-markers):
 * `headers.redelivered` and `properties.delivery_info.redelivered`, and increments
 * {@link DELIVERY_COUNT_HEADER}. Unlike Kombu, a missing `headers` object is created so the
 * flag is never lost.
 */
export function markRedeliveredInPlace(env: Record<string, unknown>): void {
  const headers = env.headers;
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
    const h = headers as Record<string, unknown>;
    h.redelivered = true;
    h[DELIVERY_COUNT_HEADER] = deliveryCount(h) + 1;
  } else {
    env.headers = { redelivered: true, [DELIVERY_COUNT_HEADER]: 1 };
  }
  const props = env.properties;
  if (typeof props === 'object' && props !== null) {
    const info = (props as Record<string, unknown>).delivery_info;
    if (typeof info === 'object' && info !== null) (info as Record<string, unknown>).redelivered = true;
  }
}

/**
 * The envelope JSON with the redelivery markers set ({@link markRedeliveredInPlace}). Input that
 * is not an envelope is returned unchanged.
 */
export function markRedelivered(json: string): string {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return json;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return json;
  const env = data as Record<string, unknown>;
  markRedeliveredInPlace(env);
  return JSON.stringify(env);
}
