/**
 * The route of a stored envelope rewritten in its text: `properties.delivery_info` gets the
 * default exchange and the target queue, and every other byte stays as it was. Parsing and
 * re-serialising the envelope would round integers beyond 2^53 in headers and bodies.
 */

const WHITESPACE = ' \t\n\r';

function skipWhitespace(text: string, i: number): number {
  while (i < text.length && WHITESPACE.includes(text[i] as string)) i++;
  return i;
}

/** The index after the string starting at `i` (a `"`), or -1. */
function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (ch === '"') return i + 1;
  }
  return -1;
}

/** The index after the value starting at `i`, or -1. */
function skipValue(text: string, i: number): number {
  const first = text[i];
  if (first === '"') return skipString(text, i);
  if (first === '{' || first === '[') {
    let depth = 0;
    while (i < text.length) {
      const ch = text[i];
      if (ch === '"') {
        i = skipString(text, i);
        if (i < 0) return -1;
        continue;
      }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  while (i < text.length && !',}] \t\n\r'.includes(text[i] as string)) i++;
  return i;
}

interface Span {
  start: number;
  end: number;
}

/**
 * The span of member `key`'s value in the object starting at `open` (the last one, as
 * JSON.parse keeps the last of duplicate keys), undefined when absent, or null when the text is
 * not the object expected.
 */
function memberSpan(text: string, open: number, key: string): Span | undefined | null {
  if (text[open] !== '{') return null;
  let i = skipWhitespace(text, open + 1);
  if (text[i] === '}') return undefined;
  let found: Span | undefined;
  for (;;) {
    if (text[i] !== '"') return null;
    const keyEnd = skipString(text, i);
    if (keyEnd < 0) return null;
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWhitespace(text, keyEnd);
    if (text[i] !== ':') return null;
    const start = skipWhitespace(text, i + 1);
    const end = skipValue(text, start);
    if (end < 0) return null;
    if (name === key) found = { start, end };
    i = skipWhitespace(text, end);
    if (text[i] === '}') return found;
    if (text[i] !== ',') return null;
    i = skipWhitespace(text, i + 1);
  }
}

/** `text` with member `key` of the object at `open` set to `value` (JSON text), or null. */
function setMember(text: string, open: number, key: string, value: string): string | null {
  const span = memberSpan(text, open, key);
  if (span === null) return null;
  if (span !== undefined) return text.slice(0, span.start) + value + text.slice(span.end);
  const empty = text[skipWhitespace(text, open + 1)] === '}';
  return `${text.slice(0, open + 1)}${JSON.stringify(key)}: ${value}${empty ? '' : ', '}${text.slice(open + 1)}`;
}

/**
 * `raw` (a JSON envelope) with `properties.delivery_info` routed to the default exchange and
 * `to`, other members of delivery_info kept; undefined when `raw` has no `properties` object.
 */
export function rerouteText(raw: string, to: string): string | undefined {
  const root = skipWhitespace(raw, 0);
  const properties = memberSpan(raw, root, 'properties');
  if (!properties || raw[properties.start] !== '{') return undefined;
  const info = memberSpan(raw, properties.start, 'delivery_info');
  if (info === null) return undefined;
  const route = `{"exchange": "", "routing_key": ${JSON.stringify(to)}}`;
  if (info === undefined || raw[info.start] !== '{') {
    if (info !== undefined) return raw.slice(0, info.start) + route + raw.slice(info.end);
    return setMember(raw, properties.start, 'delivery_info', route) ?? undefined;
  }
  const keyed = setMember(raw, info.start, 'routing_key', JSON.stringify(to));
  return (keyed === null ? null : setMember(keyed, info.start, 'exchange', '""')) ?? undefined;
}
