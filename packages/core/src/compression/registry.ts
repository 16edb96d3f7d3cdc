/**
 * The compression registry (Kombu's `kombu.compression`, docs/wire-format.md#compression). A
 * compressed message carries the compressor's MIME type in `headers.compression`;
 * content-type/encoding stay the serializer's.
 *
 * Node's synchronous zlib calls are used on purpose: message bodies are small, so the thread-pool
 * round trip of the async API costs more than the work, and staying synchronous keeps publish and
 * decode order trivially intact. A multi-megabyte body does block the event loop while it runs.
 */
import { brotliCompressSync, brotliDecompressSync, deflateSync, gunzipSync, inflateSync } from 'node:zlib';
import { ConfigurationError, DecodeError, EncodeError } from '../errors.js';
import { messageOf } from '../serialization/registry.js';

export interface CompressorDefinition {
  /** The value written to `headers.compression`, e.g. `application/x-gzip`. */
  contentType: string;
  compress(bytes: Uint8Array): Uint8Array;
  decompress(bytes: Uint8Array): Uint8Array;
  aliases?: readonly string[];
}

export interface Compressed {
  body: Uint8Array;
  /** The header value to store in `headers.compression`. */
  contentType: string;
}

/** Kombu compressors whose header kelp recognises but cannot run in Node 20 (no built-in codec). */
const UNSUPPORTED: ReadonlyMap<string, string> = new Map([
  ['application/x-bz2', 'bzip2'],
  ['application/x-lzma', 'lzma'],
  ['application/zstd', 'zstd'],
]);
const UNSUPPORTED_NAMES: ReadonlyMap<string, string> = new Map([
  ['bzip2', 'application/x-bz2'],
  ['bzip', 'application/x-bz2'],
  ['lzma', 'application/x-lzma'],
  ['xz', 'application/x-lzma'],
  ['zstd', 'application/zstd'],
  ['zstandard', 'application/zstd'],
]);

const toBytes = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);

export const zlibCompressor: CompressorDefinition = {
  // Kombu's "gzip" is a zlib stream (RFC 1950, 78 9c) labelled application/x-gzip
  // (docs/wire-format.md#compression).
  contentType: 'application/x-gzip',
  aliases: ['gzip', 'deflate'],
  compress: (bytes) => toBytes(deflateSync(bytes)),
  decompress(bytes) {
    // A real gzip file (1f 8b) is accepted too, for producers that took the header literally.
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) return toBytes(gunzipSync(bytes));
    return toBytes(inflateSync(bytes));
  },
};

export const brotliCompressor: CompressorDefinition = {
  contentType: 'application/x-brotli',
  compress: (bytes) => toBytes(brotliCompressSync(bytes)),
  decompress: (bytes) => toBytes(brotliDecompressSync(bytes)),
};

export class CompressionRegistry {
  private readonly byName = new Map<string, CompressorDefinition>();
  private readonly byType = new Map<string, CompressorDefinition>();

  register(name: string, definition: CompressorDefinition): void {
    if (!name) throw new ConfigurationError('A compressor needs a non-empty name', { option: 'name' });
    this.byName.set(name, definition);
    for (const alias of definition.aliases ?? []) this.byName.set(alias, definition);
    this.byType.set(definition.contentType, definition);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Compresses with the compressor named `name` (or alias, or header value). */
  compress(bytes: Uint8Array, name: string): Compressed {
    const definition = this.byName.get(name) ?? this.byType.get(name);
    if (!definition) {
      const unsupported = UNSUPPORTED_NAMES.get(name) ?? (UNSUPPORTED.has(name) ? name : undefined);
      throw new EncodeError(
        unsupported
          ? `${name} compression (${unsupported}) is not supported by kelp: Node has no built-in codec; use zlib or brotli`
          : `No compressor registered under '${name}'; known: ${[...this.byName.keys()].sort().join(', ')}`,
      );
    }
    try {
      return { body: definition.compress(bytes), contentType: definition.contentType };
    } catch (error) {
      throw new EncodeError(`${name} compression failed: ${messageOf(error)}`, { cause: error });
    }
  }

  /** Decompresses a body whose `headers.compression` is `headerValue` (a MIME type or an alias). */
  decompress(bytes: Uint8Array, headerValue: string): Uint8Array {
    const definition = this.byType.get(headerValue) ?? this.byName.get(headerValue);
    if (!definition) {
      const unsupported = UNSUPPORTED.get(headerValue) ?? (UNSUPPORTED_NAMES.has(headerValue) ? headerValue : undefined);
      throw new DecodeError(
        unsupported
          ? `Cannot decompress a ${unsupported} body (${headerValue}): kelp has no ${unsupported} codec; publish with zlib or brotli`
          : `Unknown compression '${headerValue}'; register it with registerCompressor()`,
      );
    }
    try {
      return definition.decompress(bytes);
    } catch (error) {
      throw new DecodeError(`Could not decompress a ${headerValue} body: ${messageOf(error)}`, { cause: error });
    }
  }
}

export function createCompressionRegistry(): CompressionRegistry {
  const registry = new CompressionRegistry();
  registry.register('zlib', zlibCompressor);
  registry.register('brotli', brotliCompressor);
  return registry;
}

export const defaultCompressors: CompressionRegistry = createCompressionRegistry();

export function registerCompressor(name: string, definition: CompressorDefinition): void {
  defaultCompressors.register(name, definition);
}

export function compress(bytes: Uint8Array, name: string): Compressed {
  return defaultCompressors.compress(bytes, name);
}

export function decompress(bytes: Uint8Array, headerValue: string): Uint8Array {
  return defaultCompressors.decompress(bytes, headerValue);
}
