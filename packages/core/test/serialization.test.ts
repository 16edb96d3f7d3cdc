import { describe, expect, it } from 'vitest';
import { createSerializerRegistry, dumps, EncodeError, loads, registerSerializer, unregisterSerializer } from '../src/index.js';
import { generateJsonValue, seededRandom } from './helpers/fake-channel.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

describe('dumps', () => {
  it('serializes an object as json by default', () => {
    const out = dumps({ a: 1 });
    expect(out.contentType).toBe('application/json');
    expect(out.contentEncoding).toBe('utf-8');
    expect(text(out.body)).toBe('{"a":1}');
  });

  it('labels a Uint8Array body without a serializer as application/data binary', () => {
    const body = new Uint8Array([0, 255, 7]);
    const out = dumps(body);
    expect(out).toEqual({ body, contentType: 'application/data', contentEncoding: 'binary' });
  });

  it('labels a Buffer body without a serializer as application/data binary', () => {
    const out = dumps(Buffer.from('hi'));
    expect(out.contentType).toBe('application/data');
    expect(hex(out.body)).toBe('6869');
  });

  it('labels a string body without a serializer as text/plain utf-8', () => {
    const out = dumps('héllo');
    expect(out.contentType).toBe('text/plain');
    expect(out.contentEncoding).toBe('utf-8');
    expect(hex(out.body)).toBe('68c3a96c6c6f');
  });

  it('json-encodes a string when the json serializer is named', () => {
    const out = dumps('x', 'json');
    expect(out.contentType).toBe('application/json');
    expect(text(out.body)).toBe('"x"');
  });

  it('encodes {a: 1} with msgpack as the bytes Kombu writes', () => {
    const out = dumps({ a: 1 }, 'msgpack');
    expect(out.contentType).toBe('application/x-msgpack');
    expect(out.contentEncoding).toBe('binary');
    expect(hex(out.body)).toBe('81a16101');
  });

  it('labels a raw string as application/data utf-8 and raw bytes as binary', () => {
    expect(dumps('abc', 'raw').contentEncoding).toBe('utf-8');
    expect(dumps(new Uint8Array([1]), 'binary').contentEncoding).toBe('binary');
    expect(dumps('abc', 'raw').contentType).toBe('application/data');
  });

  it('refuses a BigInt with an EncodeError naming the json serializer', () => {
    expect(() => dumps({ n: 10n })).toThrowError(EncodeError);
    expect(() => dumps({ n: 10n })).toThrowError(/json serializer/);
  });

  it('refuses a cyclic object with an EncodeError', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => dumps(cyclic)).toThrowError(/json serializer cannot encode/);
  });

  it('refuses a top-level undefined with an EncodeError', () => {
    expect(() => dumps(undefined)).toThrowError(/json serializer cannot encode a top-level undefined/);
  });

  it('refuses an unknown serializer name with an EncodeError listing the known ones', () => {
    expect(() => dumps({}, 'nope')).toThrowError(/No serializer registered under 'nope'; known: .*json/);
  });
});

describe('loads', () => {
  it('round-trips json, msgpack, text and binary bodies', () => {
    const value = { s: 'ü', n: [1, 2.5, null], b: true };
    for (const name of ['json', 'msgpack']) {
      const out = dumps(value, name);
      expect(loads(out.body, out.contentType, out.contentEncoding, [name])).toEqual(value);
    }
    const t = dumps('plain');
    expect(loads(t.body, t.contentType, t.contentEncoding)).toBe('plain');
    const b = dumps(new Uint8Array([9, 8]));
    expect(loads(b.body, b.contentType, b.contentEncoding)).toEqual(new Uint8Array([9, 8]));
  });

  it('decodes a raw utf-8 body as text', () => {
    const out = dumps('abc', 'raw');
    expect(loads(out.body, out.contentType, out.contentEncoding)).toBe('abc');
  });

  it('round-trips through a custom serializer registered by name and alias', () => {
    registerSerializer('reverse', {
      contentType: 'application/x-reverse',
      contentEncoding: 'utf-8',
      aliases: ['rev'],
      encode: (value) => new TextEncoder().encode(String(value).split('').reverse().join('')),
      decode: (bytes) => new TextDecoder().decode(bytes).split('').reverse().join(''),
    });
    try {
      const out = dumps('kelp', 'rev');
      expect(text(out.body)).toBe('plek');
      expect(loads(out.body, out.contentType, out.contentEncoding, ['reverse'])).toBe('kelp');
    } finally {
      unregisterSerializer('reverse');
    }
  });

  it('round-trips 200 generated values through json', () => {
    const random = seededRandom(42);
    for (let i = 0; i < 200; i++) {
      const value = generateJsonValue(random);
      const out = dumps(value, 'json');
      expect(loads(out.body, out.contentType, out.contentEncoding)).toEqual(value);
    }
  });

  it('round-trips 200 generated values through msgpack', () => {
    const random = seededRandom(7);
    const registry = createSerializerRegistry();
    for (let i = 0; i < 200; i++) {
      const value = generateJsonValue(random);
      const out = registry.dumps(value, 'msgpack');
      expect(registry.loads(out.body, out.contentType, out.contentEncoding, ['msgpack'])).toEqual(value);
    }
  });

  it('round-trips 100 generated byte strings through the binary serializer', () => {
    const random = seededRandom(99);
    for (let i = 0; i < 100; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
      const out = dumps(bytes);
      expect(loads(out.body, out.contentType, out.contentEncoding)).toEqual(bytes);
    }
  });
});
