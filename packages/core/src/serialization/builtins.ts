/**
 * kelp's built-in serializers (docs/wire-format.md#serializers): json (the default), msgpack, text
 * and raw/binary. There is deliberately no pickle; yaml can be registered by the application with a
 * safe loader.
 */
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import { EncodeError } from '../errors.js';
import { decodeText, encodeUtf8, isBinaryEncoding, isBytes, type SerializerDefinition } from './registry.js';

export const jsonSerializer: SerializerDefinition = {
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  encode(value) {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      // BigInt values and cycles land here (TypeError from JSON.stringify).
      throw new EncodeError(
        `The json serializer cannot encode this value: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (text === undefined) {
      // JSON.stringify returns undefined for undefined, functions and symbols at the top level.
      throw new EncodeError(`The json serializer cannot encode a top-level ${typeof value}`);
    }
    return encodeUtf8(text);
  },
  decode(bytes, contentEncoding) {
    return JSON.parse(decodeText(bytes, contentEncoding ?? 'utf-8')) as unknown;
  },
};

export const msgpackSerializer: SerializerDefinition = {
  contentType: 'application/x-msgpack',
  contentEncoding: 'binary',
  // useBigInt64 off: int64 values decode to numbers, as Python's msgpack gives ints a JS number can hold.
  encode: (value) => msgpackEncode(value, { useBigInt64: false }),
  decode: (bytes) => msgpackDecode(bytes, { useBigInt64: false }),
};

export const textSerializer: SerializerDefinition = {
  contentType: 'text/plain',
  contentEncoding: 'utf-8',
  encode(value) {
    if (typeof value === 'string') return encodeUtf8(value);
    if (isBytes(value)) return value;
    throw new EncodeError(`The text serializer encodes strings only, not ${typeof value}`);
  },
  decode(bytes, contentEncoding) {
    return isBinaryEncoding(contentEncoding) ? bytes : decodeText(bytes, contentEncoding ?? 'utf-8');
  },
};

/** Kombu's `raw`: bytes pass through, strings are UTF-8; a decoded body is text unless marked binary. */
export const rawSerializer: SerializerDefinition = {
  contentType: 'application/data',
  contentEncoding: 'binary',
  aliases: ['binary'],
  encode(value) {
    if (typeof value === 'string') return encodeUtf8(value);
    if (isBytes(value)) return value;
    throw new EncodeError(`The raw serializer encodes strings and Uint8Arrays only, not ${typeof value}`);
  },
  contentEncodingFor: (value) => (typeof value === 'string' ? 'utf-8' : 'binary'),
  decode(bytes, contentEncoding) {
    return isBinaryEncoding(contentEncoding) ? bytes : decodeText(bytes, contentEncoding ?? 'utf-8');
  },
};
