/**
 * Celery's `saferepr` (celery.utils.saferepr, 5.2) of JSON-like values, for the `argsrepr` and
 * `kwargsrepr` headers and the event fields Celery shows in logs and Flower: `(2, 3)`,
 * `{'z': 'a'}`, `None`, `True`. A port of its streaming algorithm, so that long values are cut the
 * same way: each token is cut to what is left of `maxlen` (1024 for the headers), then `, ...` and
 * the brackets still open; containers nested 3 deep print as `[...]`. Strings differ from Python's
 * `repr`: always single-quoted, a quote escaped as `\'`, nothing else escaped.
 */

/** Celery's `argsrepr_maxsize` and `kwargsrepr_maxsize`. */
const MAX_SIZE = 1024;
const MAX_LEVELS = 3;

/** Positional arguments as Celery sends them: a Python tuple. */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

interface Literal {
  kind: 'literal';
  value: string;
  /** Separators are dropped when the text is cut; brackets are kept. */
  truncate: boolean;
  direction: number;
}
type Marker = Literal | { kind: 'key'; value: unknown } | { kind: 'dirty' };
type Token = Literal | { kind: 'key'; value: unknown } | { kind: 'quoted'; value: string } | { kind: 'text'; value: string };

const lit = (value: string, truncate: boolean, direction: number): Literal => ({ kind: 'literal', value, truncate, direction });
const DICT_START = lit('{', false, 1);
const DICT_KVSEP = lit(': ', true, 0);
const DICT_END = lit('}', false, -1);
const LIST_START = lit('[', false, 1);
const LIST_END = lit(']', false, -1);
const LIST_SEP = lit(', ', true, 0);
const TUPLE_START = lit('(', false, 1);
const TUPLE_END = lit(')', false, -1);
const TUPLE_END_SV = lit(',)', false, -1);
const DIRTY: Marker = { kind: 'dirty' };
const MARKERS = new WeakSet<object>([DICT_START, DICT_KVSEP, DICT_END, LIST_START, LIST_END, LIST_SEP, TUPLE_START, TUPLE_END, TUPLE_END_SV, DIRTY]);

/** The repr of positional arguments (a tuple), as the `argsrepr` header. */
export function argsRepr(args: readonly unknown[]): string {
  return saferepr(new PyTuple(args), MAX_SIZE);
}

/** The repr of keyword arguments (a dict), as the `kwargsrepr` header. */
export function kwargsRepr(kwargs: Readonly<Record<string, unknown>>): string {
  return saferepr(kwargs, MAX_SIZE);
}

/** The repr of one value, uncut (event fields such as a task's result). */
export function repr(value: unknown): string {
  return saferepr(value, undefined);
}

function isMarker(value: unknown): value is Marker {
  return typeof value === 'object' && value !== null && (MARKERS.has(value) || (value as { kind?: unknown }).kind === 'key');
}

/** Yields `items`, then whatever `rest` has left (Python's `chain(items, it)`). */
function* chained(items: readonly unknown[], rest: Iterator<unknown>): Generator<unknown> {
  yield* items;
  for (let next = rest.next(); !next.done; next = rest.next()) yield next.value;
}

/** celery.utils.saferepr.saferepr(value, maxlen, maxlevels=3). */
export function saferepr(value: unknown, maxlen: number | undefined, maxlevels = MAX_LEVELS): string {
  const out: string[] = [];
  let left = maxlen;
  const stack: Iterator<unknown>[] = [[value][Symbol.iterator]()];
  let level = 0;
  let cutAt: Iterator<unknown> | undefined;
  outer: while (stack.length > 0) {
    const it = stack.shift() as Iterator<unknown>;
    for (let next = it.next(); !next.done; next = it.next()) {
      const token = toToken(next.value, level, maxlevels);
      if (token === undefined) continue; // _dirty
      if ('container' in token) {
        stack.push(chained(token.container, it));
        continue outer;
      }
      if (token.kind === 'literal') level += token.direction;
      if (left !== undefined && left <= 0) {
        out.push(', ...');
        cutAt = it;
        break outer;
      }
      const text = render(token, left, maxlevels);
      out.push(text);
      if (left !== undefined) left -= text.length;
    }
  }
  // Cut short: close the brackets still open (their end literals), leave out everything else.
  if (cutAt) {
    for (let next = cutAt.next(); !next.done; next = cutAt.next()) {
      const item = next.value;
      if (isMarker(item) && item.kind === 'literal' && !item.truncate) out.push(item.value);
    }
  }
  return out.join('');
}

/** What reprstream yields for one item: a token, a container to descend into, or nothing. */
function toToken(item: unknown, level: number, maxlevels: number): Token | { container: unknown[] } | undefined {
  if (isMarker(item)) return item.kind === 'dirty' ? undefined : item;
  if (item === null || item === undefined) return { kind: 'text', value: 'None' };
  if (typeof item === 'string') return { kind: 'quoted', value: item };
  if (typeof item === 'boolean') return { kind: 'text', value: item ? 'True' : 'False' };
  if (typeof item === 'number') return { kind: 'text', value: pyNumber(item) };
  if (typeof item === 'bigint') return { kind: 'text', value: item.toString() };
  let start: Literal;
  let end: Literal;
  let items: unknown[];
  if (item instanceof PyTuple) {
    [start, end, items] = [TUPLE_START, item.items.length === 1 ? TUPLE_END_SV : TUPLE_END, interleave(item.items)];
  } else if (Array.isArray(item)) {
    [start, end, items] = [LIST_START, LIST_END, interleave(item)];
  } else if (typeof item === 'object' && !(item instanceof Uint8Array)) {
    const entries = Object.entries(item);
    items = entries.flatMap(([key, value], i) => [{ kind: 'key', value: key }, DICT_KVSEP, value, ...(i < entries.length - 1 ? [LIST_SEP] : [])]);
    [start, end] = [DICT_START, DICT_END];
  } else {
    return { kind: 'text', value: String(item) };
  }
  if (maxlevels && level >= maxlevels) return { kind: 'text', value: `${start.value}...${end.value}` };
  return { container: [start, ...items, DIRTY, end] };
}

function interleave(values: readonly unknown[]): unknown[] {
  return values.flatMap((value, i) => (i < values.length - 1 ? [value, LIST_SEP] : [value]));
}

function render(token: Token, left: number | undefined, maxlevels: number): string {
  switch (token.kind) {
    case 'literal':
      return token.value;
    case 'key':
      return saferepr(token.value, left, maxlevels);
    case 'quoted':
      // _format_chars: single quotes, `'` escaped, nothing else.
      return `'${truncate(token.value, left).replace(/'/g, "\\'")}'`;
    case 'text':
      return truncate(token.value, left);
  }
}

/** celery.utils.text.truncate: cut at a word boundary and add `...`. */
function truncate(text: string, maxlen: number | undefined): string {
  if (maxlen && text.length >= maxlen) {
    const head = text.slice(0, maxlen);
    const space = head.lastIndexOf(' ');
    return `${space === -1 ? head : head.slice(0, space)}...`;
  }
  return text;
}

/** Python's str() of a number that came through JSON. */
function pyNumber(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return String(value);
}
