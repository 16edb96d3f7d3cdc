/**
 * encodeEnvelope writes the compact envelope as text directly instead of stringifying an object.
 * These tests pin that the text is byte for byte what JSON.stringify gives for the envelope object
 * (docs/wire-format.md#json-layout), for ordinary messages and for the property sets where an
 * object would reorder or merge keys (those take the object path).
 */
import { Buffer } from 'node:buffer';
import type { OutboundMessage } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../src/index.js';

const WIRE: Record<string, string> = {
  correlationId: 'correlation_id',
  replyTo: 'reply_to',
  messageId: 'message_id',
  userId: 'user_id',
  appId: 'app_id',
  clusterId: 'cluster_id',
  deliveryMode: 'delivery_mode',
  contentType: 'content_type',
  contentEncoding: 'content_encoding',
};
const SKIPPED = new Set(['priority', 'deliveryMode', 'delivery_mode', 'expiration']);

/** The envelope object of docs/wire-format.md#json-layout, written independently of the implementation. */
function reference(message: OutboundMessage, exchange: string, routingKey: string, tag: string): string {
  const properties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message.properties)) {
    if (value === undefined || SKIPPED.has(key)) continue;
    properties[Object.hasOwn(WIRE, key) ? (WIRE[key] as string) : key] = value;
  }
  properties.delivery_mode = message.properties.deliveryMode ?? message.properties.delivery_mode ?? 2;
  if (message.properties.expiration !== undefined) properties.expiration = message.properties.expiration;
  properties.delivery_info = { exchange, routing_key: routingKey };
  const p = Number(message.properties.priority ?? 0);
  properties.priority = Number.isFinite(p) ? Math.min(9, Math.max(0, Math.trunc(p))) : 0;
  properties.body_encoding = 'base64';
  properties.delivery_tag = tag;
  return JSON.stringify({
    body: Buffer.from(message.body).toString('base64'),
    'content-encoding': message.contentEncoding,
    'content-type': message.contentType,
    headers: message.headers,
    properties,
  });
}

const message = (properties: Record<string, unknown>, headers: Record<string, unknown> = {}): OutboundMessage =>
  ({
    body: new Uint8Array(Buffer.from('{"a": "é\\n"}')),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers,
    properties,
  }) as OutboundMessage;

const PROPERTY_SETS: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['none', {}],
  ['the producer defaults', { deliveryMode: 2, priority: 0 }],
  ['named properties', { correlationId: 'c"1', replyTo: 'r\\q', messageId: 'm', appId: 'a', userId: 'u', timestamp: 1.5 }],
  ['expiration and transient mode', { expiration: '30000', deliveryMode: 1, priority: 4 }],
  ['extras of every JSON kind', { trace: { ids: [1, 'two', null, true] }, flag: false, nothing: null, gone: undefined }],
  ['a snake_case twin of a camelCase name', { correlationId: 'camel', correlation_id: 'snake' }],
  ['an extra named like a codec field', { delivery_tag: 'mine', delivery_info: 'x', body_encoding: 'utf-8' }],
  ['integer-like extra keys', { b: 1, 10: 'ten', 2: 'two' }],
  ['an Object.prototype name', { constructor: 'c', toString: 's' }],
  ['a delivery_mode spelled on the wire', { delivery_mode: 1 }],
  ['an out-of-range priority', { priority: 42 }],
  ['a non-ASCII and control-character value', { note: '日本\u0000\u2028😀' }],
];

describe('encodeEnvelope text', () => {
  it.each(PROPERTY_SETS)('equals the stringified envelope object with %s', (_label, properties) => {
    const msg = message(properties, { 'x-bench-ts': 1763762400123.4567, nested: { k: ['v'] } });
    // A message with an expiration also carries its TTL deadline first (message-expiry.ts).
    const text = encodeEnvelope(msg, 'ex"', 'rk\u00e9', 'tag-1').replace(/^\{"x-kelp-expires-at":\d+,/, '{');
    expect(text).toBe(reference(msg, 'ex"', 'rk\u00e9', 'tag-1'));
  });

  it('writes the exchange and routing key of each message after more distinct pairs than it keeps', () => {
    const msg = message({ deliveryMode: 2, priority: 0 });
    const keys = Array.from({ length: 2100 }, (_, i) => [`ex${i % 3}`, `rk.${i}`] as const);
    const mismatched = keys.filter(([ex, rk]) => encodeEnvelope(msg, ex, rk, 't') !== reference(msg, ex, rk, 't'));
    expect(mismatched).toEqual([]);
  });

  it('encodes the body bytes of a view into a larger buffer, not the whole buffer', () => {
    const backing = Buffer.from('xxxx{"n":1}yyyy');
    const msg = { ...message({}), body: new Uint8Array(backing.buffer, backing.byteOffset + 4, 7) };
    const env = JSON.parse(encodeEnvelope(msg, '', 'q', 't')) as { body: string };
    expect(Buffer.from(env.body, 'base64').toString()).toBe('{"n":1}');
  });

  it('leaves out a header object that is missing, as JSON.stringify does', () => {
    const msg = { ...message({}), headers: undefined } as unknown as OutboundMessage;
    expect(encodeEnvelope(msg, '', 'q', 't')).toBe(reference(msg, '', 'q', 't'));
  });
});
