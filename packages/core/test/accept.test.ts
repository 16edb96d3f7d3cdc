import { describe, expect, it } from 'vitest';
import { ContentDisallowedError, createSerializerRegistry, DecodeError, dumps, loads } from '../src/index.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const packed = dumps({ a: 1 }, 'msgpack');

describe('accept rules (docs/wire-format.md#accept-lists)', () => {
  it('decodes msgpack without an accept list, since kelp has no unsafe serializer to guard against', () => {
    expect(loads(packed.body, packed.contentType, packed.contentEncoding)).toEqual({ a: 1 });
  });

  it('decodes a user-registered serializer without an accept list', () => {
    const registry = createSerializerRegistry();
    registry.register('csv', {
      contentType: 'text/x-csv-test',
      contentEncoding: 'utf-8',
      encode: (value) => utf8((value as string[]).join(',')),
      decode: (bytes) => new TextDecoder().decode(bytes).split(','),
    });
    const out = registry.dumps(['a', 'b'], 'csv');
    expect(registry.loads(out.body, out.contentType, out.contentEncoding)).toEqual(['a', 'b']);
  });

  it('refuses msgpack without an accept list once it is disabled, naming the way back', () => {
    const registry = createSerializerRegistry();
    registry.disable('msgpack');
    expect(() => registry.loads(packed.body, packed.contentType, packed.contentEncoding)).toThrowError(
      /Refusing to deserialize disabled content of type msgpack \(application\/x-msgpack\).*enableSerializer\('msgpack'\)/,
    );
  });

  it('refuses msgpack with accept json and names the type and the fix', () => {
    let caught: unknown;
    try {
      loads(packed.body, packed.contentType, packed.contentEncoding, ['json']);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ContentDisallowedError);
    expect((caught as ContentDisallowedError).message).toBe(
      "Refusing to deserialize untrusted content of type msgpack (application/x-msgpack); accept it with accept: ['msgpack']",
    );
    expect((caught as ContentDisallowedError).contentType).toBe('application/x-msgpack');
  });

  it('decodes msgpack when accept mixes a MIME type and the name msgpack', () => {
    expect(loads(packed.body, packed.contentType, packed.contentEncoding, ['application/json', 'msgpack'])).toEqual({ a: 1 });
  });

  it('always trusts application/data and application/text whatever accept says', () => {
    expect(loads(utf8('x'), 'application/data', 'binary', ['json'])).toEqual(utf8('x'));
    expect(loads(utf8('y'), 'application/text', 'utf-8', ['json'])).toBe('y');
  });

  it('treats a missing content type as application/data and returns text for utf-8', () => {
    expect(loads(utf8('{"a": 2}'), null, null, ['json'])).toBe('{"a": 2}');
  });

  it('refuses pickle even when accept lists it, calling it unsafe', () => {
    expect(() => loads(utf8('x'), 'application/x-python-serialize', 'binary', ['pickle'])).toThrowError(
      /pickle \(application\/x-python-serialize\).*unsafe/,
    );
  });

  it('refuses yaml as unsupported', () => {
    expect(() => loads(utf8('a: 1'), 'application/x-yaml', 'utf-8', ['yaml'])).toThrowError(/no yaml decoder \(unsupported\)/);
  });

  it('decodes msgpack without accept again once a disabled serializer is enabled', () => {
    const registry = createSerializerRegistry();
    registry.disable('msgpack');
    registry.enable('msgpack');
    expect(registry.loads(packed.body, packed.contentType, packed.contentEncoding)).toEqual({ a: 1 });
  });

  it('wraps invalid json in a DecodeError that keeps the cause', () => {
    let caught: unknown;
    try {
      loads(utf8('{nope'), 'application/json', 'utf-8');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DecodeError);
    expect((caught as DecodeError).cause).toBeInstanceOf(SyntaxError);
    expect((caught as DecodeError).message).toMatch(/json \(application\/json\)/);
  });

  it('decodes an unregistered text type with its charset when accepted', () => {
    expect(loads(utf8('<a/>'), 'application/xml', 'utf-8', ['application/xml'])).toBe('<a/>');
  });
});
