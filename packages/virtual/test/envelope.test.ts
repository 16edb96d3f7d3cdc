import { Buffer } from 'node:buffer';
import type { OutboundMessage } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import {
  encodeEnvelope,
  envelopeToDelivery,
  markRedelivered,
  parseEnvelope,
  readAckInfo,
  readDeliveryTag,
  stampedDeadline,
} from '../src/index.js';
import { pythonJsonDumps } from '../src/python-json.js';

const TAG = '0539e9b4-ffd6-41b0-a605-1338151c2850';

/**
 * The LPUSH payload captured from Kombu 5.2.4 in docs/wire-format.md#json-layout (redis-cli quoting
 * removed).
 */
const CAPTURED =
  '{"body": "eyJoZWxsbyI6ICJ3b3JsZCIsICJuIjogMX0=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"x-custom": "h1"}, "properties": {"correlation_id": "corr-1", "reply_to": "replyq", "delivery_mode": 2, "expiration": "30000", "delivery_info": {"exchange": "myex", "routing_key": "myrk"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "0539e9b4-ffd6-41b0-a605-1338151c2850"}}';

function capturedInputs(): OutboundMessage {
  return {
    body: new Uint8Array(Buffer.from('{"hello": "world", "n": 1}')),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { 'x-custom': 'h1' },
    properties: { correlationId: 'corr-1', replyTo: 'replyq', deliveryMode: 2, expiration: '30000' },
  };
}

function makeMessage(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    body: new Uint8Array(Buffer.from('{"a": 1}')),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {},
    properties: {},
    ...overrides,
  };
}

/** The envelope without kelp's TTL deadline member, and that deadline (docs/wire-format.md#message-ttl). */
function splitDeadline(json: string): { rest: string; deadline: number | undefined } {
  return { rest: json.replace(/^\{"x-kelp-expires-at":\d+,/, '{'), deadline: stampedDeadline(json) };
}

describe('encodeEnvelope', () => {
  it('reproduces the captured Kombu LPUSH payload byte for byte with pythonSeparators, after the TTL deadline', () => {
    const before = Date.now();
    const { rest, deadline } = splitDeadline(encodeEnvelope(capturedInputs(), 'myex', 'myrk', TAG, { pythonSeparators: true }));
    expect(rest).toBe(CAPTURED);
    expect(deadline).toBeGreaterThanOrEqual(before + 30_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 30_000);
  });

  it('writes compact JSON with the same members in the same order by default', () => {
    const { rest } = splitDeadline(encodeEnvelope(capturedInputs(), 'myex', 'myrk', TAG));
    expect(rest).toBe(JSON.stringify(JSON.parse(CAPTURED)));
  });

  it('writes no TTL deadline for a message without expiration', () => {
    const json = encodeEnvelope(makeMessage(), 'ex', 'rk', TAG);
    expect(json.startsWith('{"body":')).toBe(true);
    expect(stampedDeadline(json)).toBeUndefined();
  });

  it('orders top-level keys body, content-encoding, content-type, headers, properties', () => {
    const env = JSON.parse(encodeEnvelope(makeMessage(), 'ex', 'rk', TAG));
    expect(Object.keys(env)).toEqual(['body', 'content-encoding', 'content-type', 'headers', 'properties']);
  });

  it('puts extra properties first in snake_case, then delivery_mode ... delivery_tag', () => {
    const env = JSON.parse(
      encodeEnvelope(makeMessage({ properties: { messageId: 'm1', appId: 'app', priority: 4 } }), 'ex', 'rk', TAG),
    );
    expect(Object.keys(env.properties)).toEqual([
      'message_id',
      'app_id',
      'delivery_mode',
      'delivery_info',
      'priority',
      'body_encoding',
      'delivery_tag',
    ]);
    expect(env.properties.priority).toBe(4);
    expect(env.properties.delivery_mode).toBe(2);
  });

  it('clamps the priority to 0..9', () => {
    const env = JSON.parse(encodeEnvelope(makeMessage({ properties: { priority: 42 } }), 'ex', 'rk', TAG));
    expect(env.properties.priority).toBe(9);
  });

  it('escapes non-ASCII like Python json.dumps when pythonSeparators is on', () => {
    expect(pythonJsonDumps({ k: 'é日\n😀' })).toBe('{"k": "\\u00e9\\u65e5\\n\\ud83d\\ude00"}');
  });
});

describe('parseEnvelope', () => {
  it('parses the captured envelope and decodes the base64 body', () => {
    const result = parseEnvelope(CAPTURED);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(Buffer.from(result.envelope.body).toString()).toBe('{"hello": "world", "n": 1}');
    expect(result.envelope.deliveryTag).toBe(TAG);
    expect(result.envelope.exchange).toBe('myex');
    expect(result.envelope.routingKey).toBe('myrk');
    expect(result.envelope.redelivered).toBe(false);
  });

  it('takes the body verbatim when body_encoding is missing', () => {
    const json = JSON.stringify({
      body: '{"a": 2}',
      'content-type': 'application/json',
      'content-encoding': 'utf-8',
      headers: {},
      properties: { delivery_info: { exchange: '', routing_key: 'q' }, delivery_tag: 't1' },
    });
    const result = parseEnvelope(json);
    expect(result.ok && Buffer.from(result.envelope.body).toString()).toBe('{"a": 2}');
  });

  it('tolerates missing headers and content-type', () => {
    const json = JSON.stringify({ body: 'aGk=', properties: { delivery_info: { exchange: 'e', routing_key: 'r' }, body_encoding: 'base64', delivery_tag: 't' } });
    const result = parseEnvelope(json);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.envelope.headers).toEqual({});
    expect(result.envelope.contentType).toBeNull();
    expect(Buffer.from(result.envelope.body).toString()).toBe('hi');
  });

  it.each([
    ['"5"', 5],
    ['4.7', 4],
    ['"x"', 0],
    ['null', 0],
    ['-3', 0],
    ['12', 9],
  ])('coerces priority %s to %d like Python int() clamped to 0..9', (raw, expected) => {
    const json = `{"body": "", "properties": {"delivery_info": {"exchange": "", "routing_key": "q"}, "delivery_tag": "t", "priority": ${raw}}}`;
    const result = parseEnvelope(json);
    expect(result.ok && result.envelope.priority).toBe(expected);
  });

  it('fails with a reason for text that is not JSON', () => {
    const result = parseEnvelope('not json');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/not JSON/);
  });

  it('fails when delivery_tag is missing', () => {
    const result = parseEnvelope('{"body": "", "properties": {"delivery_info": {"exchange": "", "routing_key": "q"}}}');
    expect(!result.ok && result.reason).toMatch(/delivery_tag/);
  });

  it('fails when delivery_info is missing', () => {
    const result = parseEnvelope('{"body": "", "properties": {"delivery_tag": "t"}}');
    expect(!result.ok && result.reason).toMatch(/delivery_info/);
  });

  it('fails on a body that is not base64', () => {
    const json = '{"body": "%%%", "properties": {"delivery_info": {"exchange": "", "routing_key": "q"}, "body_encoding": "base64", "delivery_tag": "t"}}';
    expect(parseEnvelope(json)).toEqual({ ok: false, reason: 'body is not valid base64' });
  });

  it('refuses nesting deeper than cjson reads (1000 levels), not brackets inside strings', () => {
    const withHeader = (value: string) => CAPTURED.replace('{"x-custom": "h1"}', `{"deep": ${value}}`);
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    // The envelope and its headers are two levels already.
    expect(parseEnvelope(withHeader(nested(998))).ok).toBe(true);
    expect(parseEnvelope(withHeader(nested(999)))).toEqual({ ok: false, reason: expect.stringMatching(/deeper than 1000 levels/) });
    expect(parseEnvelope(withHeader(`"${'[{'.repeat(3000)}"`)).ok).toBe(true);
    // An escaped backslash and an escaped quote do not end the string early: its "[[[" never counts.
    const tricky = (depth: number) => `["\\\\\\"[[[", ${nested(depth)}]`;
    expect(JSON.parse(withHeader(tricky(1))).headers.deep[0]).toBe('\\"[[[');
    expect(parseEnvelope(withHeader(tricky(997))).ok).toBe(true);
    expect(parseEnvelope(withHeader(tricky(998))).ok).toBe(false);
  });
});

describe('envelopeToDelivery', () => {
  it('maps wire properties to camelCase and keeps unknown keys as they are', () => {
    const json = encodeEnvelope(
      makeMessage({ properties: { correlationId: 'c1', replyTo: 'r', custom_thing: 'x', priority: 3 } }),
      'ex',
      'rk',
      TAG,
    );
    const result = parseEnvelope(json);
    if (!result.ok) throw new Error(result.reason);
    const delivery = envelopeToDelivery(result.envelope, { queue: 'q1', noAck: false, consumerTag: 'ct' });
    expect(delivery.properties).toEqual({ correlationId: 'c1', replyTo: 'r', custom_thing: 'x', deliveryMode: 2, priority: 3 });
    expect(delivery.deliveryInfo).toEqual({ exchange: 'ex', routingKey: 'rk', redelivered: false, queue: 'q1', consumerTag: 'ct' });
    expect(delivery.deliveryTag).toBe(TAG);
  });

  it('reports redelivered from the markers markRedelivered sets', () => {
    const marked = markRedelivered(CAPTURED);
    const env = JSON.parse(marked);
    expect(env.headers.redelivered).toBe(true);
    expect(env.properties.delivery_info.redelivered).toBe(true);
    expect(env.properties.delivery_tag).toBe(TAG);
    const result = parseEnvelope(marked);
    if (!result.ok) throw new Error(result.reason);
    expect(envelopeToDelivery(result.envelope, { queue: 'myq', noAck: true }).deliveryInfo.redelivered).toBe(true);
  });
});

describe('readAckInfo', () => {
  it('extracts tag, exchange, routing key and priority for the unacked store', () => {
    expect(readAckInfo(CAPTURED)).toEqual({ deliveryTag: TAG, exchange: 'myex', routingKey: 'myrk', priority: 0 });
  });

  it('returns undefined for a payload without a delivery tag', () => {
    expect(readAckInfo('{"properties": {"delivery_info": {}}}')).toBeUndefined();
  });
});

describe('readDeliveryTag', () => {
  it("reads the tag of Kombu's layout and of kelp's compact one", () => {
    expect(readDeliveryTag(CAPTURED)).toBe(TAG);
    const compact = encodeEnvelope(capturedInputs(), 'myex', 'myrk', TAG);
    expect(readDeliveryTag(compact)).toBe(TAG);
  });

  it('reads the properties tag, as a parse does, when a header has the same name', () => {
    const withHeader = CAPTURED.replace('"headers": {"x-custom": "h1"}', '"headers": {"delivery_tag": "from-a-header"}');
    expect(readDeliveryTag(withHeader)).toBe(TAG);
  });

  it('finds no tag when the only delivery_tag key is a header, as a parse finds none in properties', () => {
    const headerOnly = CAPTURED.replace('"headers": {"x-custom": "h1"}', '"headers": {"delivery_tag": "from-a-header"}').replace(`, "delivery_tag": "${TAG}"`, '');
    expect(JSON.parse(headerOnly).properties.delivery_tag).toBeUndefined();
    expect(readDeliveryTag(headerOnly)).toBeUndefined();
  });

  it('reads a tag with an escape as a parse does', () => {
    const escaped = CAPTURED.replace(`"delivery_tag": "${TAG}"`, '"delivery_tag": "a\\"b"');
    expect(JSON.parse(escaped).properties.delivery_tag).toBe('a"b');
    expect(readDeliveryTag(escaped)).toBe('a"b');
  });

  it('finds no tag where there is none, or one that is empty', () => {
    expect(readDeliveryTag('{"properties": {"delivery_info": {}}}')).toBeUndefined();
    expect(readDeliveryTag(CAPTURED.replace(`"delivery_tag": "${TAG}"`, '"delivery_tag": ""'))).toBeUndefined();
    expect(readDeliveryTag('not json "delivery_tag": 5')).toBeUndefined();
  });
});

describe('envelope round trip (seeded random messages)', () => {
  /** mulberry32: a small deterministic generator so failures reproduce. */
  function rng(seed: number) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const alphabet = ['a', 'Z', '0', '.', '"', '\\', '\n', 'é', '日', '😀', ' ', '\u0000'];

  it('parses back the body bytes, headers, routing and properties of 200 random messages, in both formats', () => {
    const random = rng(42);
    const str = (n: number) => Array.from({ length: Math.floor(random() * n) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    for (let i = 0; i < 200; i++) {
      const body = new Uint8Array(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      const headers = { [str(5) || 'h']: str(10), n: Math.floor(random() * 1000), flag: random() < 0.5 };
      const properties = { correlationId: str(8), priority: Math.floor(random() * 12) };
      const exchange = str(6);
      const routingKey = str(12);
      const json = encodeEnvelope(makeMessage({ body, headers, properties }), exchange, routingKey, TAG, {
        pythonSeparators: i % 2 === 0,
      });
      const parsed = parseEnvelope(json);
      if (!parsed.ok) throw new Error(parsed.reason);
      const delivery = envelopeToDelivery(parsed.envelope, { queue: 'q', noAck: false });
      expect(Array.from(delivery.body)).toEqual(Array.from(body));
      expect(delivery.headers).toEqual(headers);
      expect(delivery.properties.correlationId).toBe(properties.correlationId);
      expect(delivery.properties.priority).toBe(Math.min(9, properties.priority));
      expect([delivery.deliveryInfo.exchange, delivery.deliveryInfo.routingKey]).toEqual([exchange, routingKey]);
    }
  });
});
