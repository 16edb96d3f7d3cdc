/**
 * The serializer registry (Kombu's `kombu.serialization`): turns message bodies into bytes with a
 * content type and encoding, and back, enforcing the consumer's `accept` list
 * (docs/wire-format.md#serializers-and-compression).
 */
import { Buffer } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { ConfigurationError, ContentDisallowedError, DecodeError, EncodeError } from '../errors.js';

export interface SerializerDefinition {
  /** MIME type written to `content-type`, e.g. `application/json`. */
  contentType: string;
  /** Charset of the serialized bytes (`utf-8`) or `binary`. */
  contentEncoding: string;
  encode(value: unknown): Uint8Array;
  /** `contentEncoding` is the message's, for decoders whose result depends on it (raw). */
  decode(bytes: Uint8Array, contentEncoding?: string): unknown;
  /** Further names that select this serializer (`binary` for `raw`). */
  aliases?: readonly string[];
  /** When the encoding depends on the value (raw: `utf-8` for strings, `binary` for bytes). */
  contentEncodingFor?(value: unknown): string;
}

export interface Serialized {
  body: Uint8Array;
  contentType: string;
  contentEncoding: string;
}

/** Content types decoded without an `accept` entry: they are plain bytes or text (Kombu's trusted set). */
export const TRUSTED_CONTENT_TYPES: readonly string[] = ['application/data', 'application/text'];

/**
 * Content types kelp never decodes. Python pickle can run arbitrary code when loaded; YAML has no
 * decoder in kelp (register one with a safe loader under the name `yaml` if you need it).
 */
const UNSAFE_CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ['application/x-python-serialize', 'pickle'],
  ['application/x-yaml', 'yaml'],
]);

/** Names Kombu users pass in `accept` even though kelp has no such serializer. */
const KNOWN_NAMES: ReadonlyMap<string, string> = new Map([
  ['pickle', 'application/x-python-serialize'],
  ['yaml', 'application/x-yaml'],
]);

const textDecoderCache = new Map<string, TextDecoder>();

/** Decodes bytes as text in `encoding` (a WHATWG label, `utf-8` by default). */
export function decodeText(bytes: Uint8Array, encoding = 'utf-8'): string {
  let decoder = textDecoderCache.get(encoding);
  if (!decoder) {
    // fatal: a body that is not valid text is a DecodeError, not silently replaced characters.
    decoder = new TextDecoder(encoding, { fatal: true });
    textDecoderCache.set(encoding, decoder);
  }
  return decoder.decode(bytes);
}

/**
 * UTF-8 bytes of `text` as a plain Uint8Array. Buffer.from takes small results from Node's shared
 * pool instead of allocating an ArrayBuffer per call as TextEncoder does (on the publish path, most
 * of the garbage per message); the view hides the Buffer type, so callers
 * compare and serialize it as the Uint8Array they expect. Lone surrogates become U+FFFD either way.
 */
export function encodeUtf8(text: string): Uint8Array {
  const buffer = Buffer.from(text, 'utf8');
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** Encodings under which a body is bytes, not text (Kombu: `binary`, `ascii-8bit`). */
export function isBinaryEncoding(encoding: string | null | undefined): boolean {
  const e = (encoding ?? '').toLowerCase();
  return e === 'binary' || e === 'ascii-8bit';
}

interface Entry {
  name: string;
  definition: SerializerDefinition;
}

export class SerializerRegistry {
  private readonly byName = new Map<string, Entry>();
  private readonly byType = new Map<string, Entry>();
  private readonly disabled = new Set<string>();
  private defaultName = 'json';

  /** Registers (or replaces) a serializer under `name` and its aliases. */
  register(name: string, definition: SerializerDefinition): void {
    if (!name) throw new ConfigurationError('A serializer needs a non-empty name', { option: 'name' });
    if (definition.contentType === 'application/x-python-serialize') {
      throw new ConfigurationError('kelp never decodes pickle: loading it can run arbitrary code', {
        option: 'contentType',
      });
    }
    const entry: Entry = { name, definition };
    this.byName.set(name, entry);
    for (const alias of definition.aliases ?? []) this.byName.set(alias, entry);
    this.byType.set(definition.contentType, entry);
  }

  /** Removes a serializer and its aliases. */
  unregister(name: string): void {
    const entry = this.byName.get(name);
    if (!entry) return;
    for (const [key, value] of this.byName) if (value === entry) this.byName.delete(key);
    if (this.byType.get(entry.definition.contentType) === entry) this.byType.delete(entry.definition.contentType);
  }

  /** The serializer `dumps` uses when none is named (`json`). */
  setDefault(name: string): void {
    this.require(name);
    this.defaultName = name;
  }

  get defaultSerializer(): string {
    return this.defaultName;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The canonical name of the serializer for a content type, if one is registered. */
  nameFor(contentType: string): string | undefined {
    return this.byType.get(contentType)?.name;
  }

  /**
   * Refuses this type to consumers without an `accept` list (opt-in). Nothing is disabled by
   * default: kelp has no unsafe serializer, so unlike Kombu (which disables msgpack, yaml and
   * pickle) every registered serializer is decoded unless `accept` narrows the set.
   */
  disable(nameOrType: string): void {
    this.disabled.add(this.contentTypeOf(nameOrType));
  }

  enable(nameOrType: string): void {
    this.disabled.delete(this.contentTypeOf(nameOrType));
  }

  /** Maps names (`json`) to MIME types; anything else passes through as a MIME type. */
  resolveAccept(accept: Iterable<string>): Set<string> {
    const out = new Set<string>();
    for (const item of accept) out.add(this.contentTypeOf(item));
    return out;
  }

  /**
   * Serializes `value`. Without a serializer, bytes become `application/data` + `binary` and
   * strings `text/plain` + `utf-8` (as Kombu does); anything else uses the default (json).
   */
  dumps(value: unknown, serializer?: string): Serialized {
    if (serializer === undefined) {
      if (isBytes(value)) return { body: value, contentType: 'application/data', contentEncoding: 'binary' };
      if (typeof value === 'string') {
        return { body: encodeUtf8(value), contentType: 'text/plain', contentEncoding: 'utf-8' };
      }
    }
    const name = serializer ?? this.defaultName;
    const entry = this.byName.get(name);
    if (!entry) {
      throw new EncodeError(
        `No serializer registered under '${name}'; known: ${[...this.byName.keys()].sort().join(', ')}`,
      );
    }
    const { definition } = entry;
    let body: Uint8Array;
    try {
      body = definition.encode(value);
    } catch (error) {
      if (error instanceof EncodeError) throw error;
      throw new EncodeError(`The ${entry.name} serializer could not encode the body: ${messageOf(error)}`, {
        cause: error,
      });
    }
    const contentEncoding = definition.contentEncodingFor?.(value) ?? definition.contentEncoding;
    return { body, contentType: definition.contentType, contentEncoding };
  }

  /**
   * Deserializes a body (docs/wire-format.md#accept-lists). A missing content type is
   * `application/data`. With `accept`, only those types (and the trusted ones) are decoded; without
   * it, every registered type is decoded except those explicitly disabled. Pickle and yaml are
   * refused either way.
   */
  loads(
    body: Uint8Array,
    contentType: string | null | undefined,
    contentEncoding: string | null | undefined,
    accept?: Iterable<string>,
  ): unknown {
    const type = contentType || 'application/data';
    const encoding = contentEncoding ? contentEncoding.toLowerCase() : 'utf-8';
    const unsafe = UNSAFE_CONTENT_TYPES.get(type);
    if (unsafe !== undefined && !this.byType.has(type)) {
      throw new ContentDisallowedError(
        `Refusing to deserialize content of type ${this.describe(type)}: kelp has no ${unsafe} decoder (${
          unsafe === 'pickle' ? 'unsafe: loading pickle can run arbitrary code' : 'unsupported'
        }); publish it as json instead`,
        { contentType: type },
      );
    }
    if (accept !== undefined) {
      if (!this.accepts(accept, type) && !TRUSTED_CONTENT_TYPES.includes(type)) {
        throw new ContentDisallowedError(
          `Refusing to deserialize untrusted content of type ${this.describe(type)}; accept it with accept: ['${this.shortName(type)}']`,
          { contentType: type },
        );
      }
    } else if (this.disabled.has(type)) {
      throw new ContentDisallowedError(
        `Refusing to deserialize disabled content of type ${this.describe(type)}; accept it with accept: ['${this.shortName(
          type,
        )}'] or enableSerializer('${this.shortName(type)}')`,
        { contentType: type },
      );
    }
    const entry = this.byType.get(type);
    try {
      if (entry) return entry.definition.decode(body, encoding);
      if (!isBinaryEncoding(encoding)) return decodeText(body, encoding);
      return body;
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      throw new DecodeError(`Could not decode a body of type ${this.describe(type)} (${encoding}): ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  /** Whether `accept` (names or MIME types) admits `type`; runs per decoded message, so no Set is built. */
  private accepts(accept: Iterable<string>, type: string): boolean {
    for (const item of accept) if (this.contentTypeOf(item) === type) return true;
    return false;
  }

  private require(name: string): Entry {
    const entry = this.byName.get(name);
    if (!entry) throw new ConfigurationError(`No serializer registered under '${name}'`, { option: 'serializer' });
    return entry;
  }

  private contentTypeOf(nameOrType: string): string {
    return this.byName.get(nameOrType)?.definition.contentType ?? KNOWN_NAMES.get(nameOrType) ?? nameOrType;
  }

  private shortName(type: string): string {
    return this.byType.get(type)?.name ?? UNSAFE_CONTENT_TYPES.get(type) ?? type;
  }

  /** `msgpack (application/x-msgpack)`, or just the type when no name is known. */
  private describe(type: string): string {
    const name = this.shortName(type);
    return name === type ? type : `${name} (${type})`;
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
