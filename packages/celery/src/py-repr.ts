/**
 * Celery's `saferepr` of JSON-like values, for the `argsrepr` and `kwargsrepr` headers Celery shows
 * in logs, events and Flower: `(2, 3)`, `{'z': 'a'}`, `None`, `True`. It differs from Python's
 * `repr` in strings: always single-quoted, a quote escaped as `\'`, nothing else escaped. Celery
 * cuts the text at 1024 characters (`argsrepr_maxsize`); the cut here is at the same length.
 */
const MAX_SIZE = 1024;

/** The repr of positional arguments as Celery sends them: a Python tuple. */
export function argsRepr(args: readonly unknown[]): string {
  const items = args.map(repr);
  return truncate(items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`);
}

/** The repr of keyword arguments: a Python dict. */
export function kwargsRepr(kwargs: Readonly<Record<string, unknown>>): string {
  return truncate(repr(kwargs));
}

export function repr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  switch (typeof value) {
    case 'string':
      return reprString(value);
    case 'boolean':
      return value ? 'True' : 'False';
    case 'number':
      if (Number.isNaN(value)) return 'nan';
      if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
      return String(value);
    case 'bigint':
      return value.toString();
    default:
      break;
  }
  if (Array.isArray(value)) return `[${value.map(repr).join(', ')}]`;
  if (value instanceof Uint8Array) return `b'${Buffer.from(value).toString('latin1').replace(/[^\x20-\x7e]|['\\]/g, byteEscape)}'`;
  if (typeof value === 'object') {
    return `{${Object.entries(value).map(([key, item]) => `${reprString(key)}: ${repr(item)}`).join(', ')}}`;
  }
  return reprString(String(value));
}

/** celery.utils.saferepr's `_format_chars`: `'text'` with `'` escaped and nothing else. */
function reprString(text: string): string {
  return `'${text.replace(/'/g, "\\'")}'`;
}

function byteEscape(char: string): string {
  if (char === "'" || char === '\\') return `\\${char}`;
  if (char === '\n') return '\\n';
  if (char === '\r') return '\\r';
  if (char === '\t') return '\\t';
  return `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

function truncate(text: string): string {
  return text.length > MAX_SIZE ? `${text.slice(0, MAX_SIZE)}...` : text;
}
