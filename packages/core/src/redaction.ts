/**
 * Keeps broker passwords out of error messages and events. URLs are redacted where they are
 * formatted (`redactUrl`); this catches the password showing up inside a driver's own error: its
 * text, and also its fields and causes (ioredis keeps `command: { name: 'auth', args: [user,
 * password] }` on a failed AUTH, which `util.inspect`, `JSON.stringify` and loggers all print).
 */
/** The secrets to look for: each password as written and percent-encoded. */
export function secretVariants(passwords: readonly (string | undefined)[]): string[] {
  const variants = new Set<string>();
  for (const password of passwords) {
    if (password === undefined || password === '') continue;
    variants.add(password);
    variants.add(encodeURIComponent(password));
  }
  // Longest first, so a password that contains another one is replaced whole.
  return [...variants].sort((a, b) => b.length - a.length);
}

/** `text` with every secret replaced by `**`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) result = result.split(secret).join('**');
  return result;
}

/** Deeper than any driver error nests; past it nothing is copied (a cycle guard as well). */
const MAX_DEPTH = 8;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Binary arguments (ioredis accepts Buffers) read as text, the way a password would appear in them. */
function binaryText(view: ArrayBufferView): string {
  return utf8.decode(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
}

/**
 * The properties of `value` that inspect/JSON/loggers may print: for errors every own property
 * (message, stack, cause and AggregateError's errors are own but not enumerable), for other
 * objects the enumerable ones. Getters are never called.
 */
function printedEntries(value: object): [PropertyKey, unknown][] {
  const keys: PropertyKey[] =
    value instanceof Error
      ? [...Object.getOwnPropertyNames(value), ...Object.getOwnPropertySymbols(value)]
      : [...Object.keys(value), ...Object.getOwnPropertySymbols(value).filter((s) => Object.prototype.propertyIsEnumerable.call(value, s))];
  const entries: [PropertyKey, unknown][] = [];
  for (const key of keys) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    if (descriptor && 'value' in descriptor) entries.push([key, descriptor.value]);
  }
  return entries;
}

function holdsSecret(value: unknown, secrets: readonly string[], depth: number, seen: Set<object>): boolean {
  if (typeof value === 'string') return secrets.some((secret) => value.includes(secret));
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || seen.has(value)) return false;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return holdsSecret(binaryText(value), secrets, depth, seen);
  if (value instanceof Error && holdsSecret(value.stack, secrets, depth, seen)) return true;
  return printedEntries(value).some(([, field]) => holdsSecret(field, secrets, depth + 1, seen));
}

/**
 * A copy of `value` with every secret replaced by `**`; parts that hold none are kept as they
 * are. Errors keep their prototype (so `instanceof OperationalError` and `recoverable` still
 * hold) and their own fields, scrubbed.
 */
function scrubValue(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === 'string') return scrubSecrets(value, secrets);
  if (!holdsSecret(value, secrets, depth, new Set())) return value;
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return '[removed]';
  if (ArrayBuffer.isView(value)) return scrubSecrets(binaryText(value), secrets);
  if (Array.isArray(value)) return value.map((item: unknown) => scrubValue(item, secrets, depth + 1));
  if (value instanceof Error) {
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Error;
    for (const [key, field] of printedEntries(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key) as PropertyDescriptor;
      Object.defineProperty(copy, key, { ...descriptor, value: scrubValue(field, secrets, depth + 1) });
    }
    if (!Object.prototype.hasOwnProperty.call(copy, 'stack')) {
      Object.defineProperty(copy, 'stack', { value: scrubSecrets(value.stack ?? '', secrets), writable: true, configurable: true });
    }
    return copy;
  }
  const copy: Record<PropertyKey, unknown> = {};
  for (const [key, field] of printedEntries(value)) copy[key as string] = scrubValue(field, secrets, depth + 1);
  return copy;
}

/**
 * `error` itself when neither its text nor anything reachable from it (own fields, the `cause`
 * chain, AggregateError's `errors`, binary arguments) holds a secret; otherwise a copy of the
 * same class with every secret replaced by `**`.
 */
export function sanitizeError(error: unknown, secrets: readonly string[]): Error {
  if (!(error instanceof Error)) return new Error(scrubSecrets(String(error), secrets));
  if (secrets.length === 0 || !holdsSecret(error, secrets, 0, new Set())) return error;
  return scrubValue(error, secrets, 0) as Error;
}
