import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  compress,
  createCompressionRegistry,
  DecodeError,
  decompress,
  EncodeError,
  registerCompressor,
} from '../src/index.js';
import { seededRandom } from './helpers/fake-channel.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('compression registry (docs/wire-format.md#compression)', () => {
  it('compresses {"a": 1} with zlib to the exact bytes Python Kombu writes', () => {
    const out = compress(utf8('{"a": 1}'), 'zlib');
    expect(out.contentType).toBe('application/x-gzip');
    expect(hex(out.body)).toBe('789cab564a54b25230ac050009e50229');
  });

  it('makes gzip and deflate aliases of the zlib stream compressor', () => {
    const zlib = compress(utf8('same'), 'zlib');
    expect(compress(utf8('same'), 'gzip')).toEqual(zlib);
    expect(compress(utf8('same'), 'deflate')).toEqual(zlib);
  });

  it('round-trips generated bodies through zlib and brotli', () => {
    const random = seededRandom(3);
    for (const name of ['zlib', 'brotli']) {
      for (let i = 0; i < 30; i++) {
        const body = Uint8Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 8));
        const out = compress(body, name);
        expect(decompress(out.body, out.contentType)).toEqual(body);
      }
    }
  });

  it('labels brotli bodies application/x-brotli and decodes them', () => {
    const out = compress(utf8('brotli body'), 'brotli');
    expect(out.contentType).toBe('application/x-brotli');
    expect(Buffer.from(decompress(brotliCompressSync(utf8('x')), 'application/x-brotli')).toString()).toBe('x');
  });

  it('also accepts a real gzip file under application/x-gzip', () => {
    expect(Buffer.from(decompress(gzipSync(utf8('gz')), 'application/x-gzip')).toString()).toBe('gz');
  });

  it('names bzip2 when asked to decompress a body it has no codec for', () => {
    expect(() => decompress(utf8('BZh9'), 'application/x-bz2')).toThrowError(DecodeError);
    expect(() => decompress(utf8('BZh9'), 'application/x-bz2')).toThrowError(/bzip2/);
    expect(() => decompress(utf8('x'), 'application/zstd')).toThrowError(/zstd/);
  });

  it('refuses to compress with lzma, naming it', () => {
    expect(() => compress(utf8('x'), 'lzma')).toThrowError(EncodeError);
    expect(() => compress(utf8('x'), 'xz')).toThrowError(/xz compression \(application\/x-lzma\) is not supported/);
  });

  it('wraps a corrupt zlib body in a DecodeError with the cause', () => {
    let caught: unknown;
    try {
      decompress(utf8('not zlib at all'), 'application/x-gzip');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DecodeError);
    expect((caught as DecodeError).cause).toBeInstanceOf(Error);
  });

  it('rejects an unknown header value with a DecodeError', () => {
    expect(() => decompress(utf8('x'), 'application/x-snappy')).toThrowError(/Unknown compression 'application\/x-snappy'/);
  });

  it('uses a custom compressor registered by name', () => {
    const registry = createCompressionRegistry();
    registry.register('reverse', {
      contentType: 'application/x-reverse',
      compress: (bytes) => Uint8Array.from(bytes).reverse(),
      decompress: (bytes) => Uint8Array.from(bytes).reverse(),
    });
    const out = registry.compress(utf8('abc'), 'reverse');
    expect(Buffer.from(out.body).toString()).toBe('cba');
    expect(Buffer.from(registry.decompress(out.body, 'application/x-reverse')).toString()).toBe('abc');
    registerCompressor('identity-test', { contentType: 'application/x-identity', compress: (b) => b, decompress: (b) => b });
    expect(compress(utf8('i'), 'identity-test').contentType).toBe('application/x-identity');
  });
});
