/**
 * JSON as Python's `json.dumps` writes it with its defaults (the form Kombu's json serializer
 * and Celery's Redis result backend store): `", "` and `": "` separators and `ensure_ascii`, so
 * that what kelp writes is byte for byte what Celery writes for the same value.
 */
import { EncodeError } from '@kelp/core';

/** Serializes a JSON value the way Python's `json.dumps(value)` does. */
export function pyJsonDumps(value: unknown): string {
  const out = dump(value, new Set());
  if (out === undefined) throw new EncodeError(`Cannot encode a top-level ${typeof value} as JSON`);
  return out;
}

function dump(value: unknown, seen: Set<object>): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // Python writes NaN and Infinity bare; JSON.stringify would write null and lose them.
      if (Number.isNaN(value)) return 'NaN';
      if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  const object = value as object & { toJSON?: () => unknown };
  if (typeof object.toJSON === 'function') return dump(object.toJSON(), seen);
  if (seen.has(object)) throw new EncodeError('Cannot encode a value that contains itself as JSON');
  seen.add(object);
  try {
    if (Array.isArray(object)) return `[${object.map((item) => dump(item, seen) ?? 'null').join(', ')}]`;
    if (object instanceof Uint8Array) throw new EncodeError('Bytes cannot be encoded as JSON; use the msgpack serializer');
    const parts: string[] = [];
    for (const [key, item] of Object.entries(object)) {
      const encoded = dump(item, seen);
      if (encoded !== undefined) parts.push(`${quote(key)}: ${encoded}`);
    }
    return `{${parts.join(', ')}}`;
  } finally {
    seen.delete(object);
  }
}

/** A JSON string with every character outside ASCII escaped, as `ensure_ascii=True` does. */
function quote(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
