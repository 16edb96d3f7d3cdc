/**
 * Kombu's topic exchange (docs/wire-format.md#topic). The compiled pattern is stored next to the
 * binding, so the compiler must produce Kombu's string exactly; matching must behave like Python's
 * `re.match` on whatever pattern another process wrote. These are NOT AMQP semantics: `*` may span
 * dots and `stock.#` does not match `stock`.
 */

/** Python's `str.isalnum()` for one code point (Unicode letters and numbers of every script). */
const ALNUM = /^[\p{L}\p{N}]$/u;

/** Kombu `escape_regex(key, '.#*')`: keep alnum and `.#*`, NUL becomes `\000`, else backslash. */
function escapeBindingKey(bindingKey: string): string {
  let out = '';
  for (const ch of bindingKey) {
    if (ch === '\0') out += '\\000';
    else if (ch === '.' || ch === '#' || ch === '*' || ALNUM.test(ch)) out += ch;
    else out += `\\${ch}`;
  }
  return out;
}

const WILDCARDS: Readonly<Record<string, string>> = { '*': '.*?[^\\.]', '#': '.*?' };

/** Compiles a binding key into the regex source Kombu stores, e.g. `stock.#` -> `^stock\..*?$`. */
export function compileTopicPattern(bindingKey: string): string {
  const words = escapeBindingKey(bindingKey)
    .split('.')
    .map((word) => WILDCARDS[word] ?? word);
  return `^${words.join('\\.')}$`;
}

/**
 * Rewrites Python regex source into an equivalent JS one (no `u` flag, where identity escapes
 * like `\_` are legal): an unescaped `.` outside a class matches anything but `\n` (JS `.` also
 * refuses `\r`, U+2028 and U+2029), and a final `$` also matches before one trailing newline.
 */
function pythonToJsSource(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\') {
      out += ch + (pattern[i + 1] ?? '');
      i++;
    } else if (inClass) {
      if (ch === ']') inClass = false;
      out += ch;
    } else if (ch === '[') {
      inClass = true;
      out += ch;
      // A `]` right after `[` or `[^` is a literal in both dialects; copy it so it does not close.
      if (pattern[i + 1] === '^') out += pattern[++i];
      if (pattern[i + 1] === ']') out += pattern[++i];
    } else if (ch === '.') {
      out += '[^\\n]';
    } else if (ch === '$' && i === pattern.length - 1) {
      out += '(?=\\n?$)';
    } else {
      out += ch;
    }
  }
  // re.match anchors at the start only; the group keeps a top-level `|` inside the anchor.
  return `^(?:${out})`;
}

const NEVER = /(?!)/;

/** A bounded cache of compiled patterns; touched entries move to the back, the oldest go first. */
export class TopicPatternCache {
  private readonly entries = new Map<string, RegExp>();

  constructor(readonly maxSize = 1000) {}

  get size(): number {
    return this.entries.size;
  }

  /** The compiled RegExp for a stored pattern. A pattern JS cannot compile never matches. */
  get(pattern: string): RegExp {
    const hit = this.entries.get(pattern);
    if (hit !== undefined) {
      this.entries.delete(pattern);
      this.entries.set(pattern, hit);
      return hit;
    }
    let regex: RegExp;
    try {
      regex = new RegExp(pythonToJsSource(pattern));
    } catch {
      regex = NEVER;
    }
    this.entries.set(pattern, regex);
    if (this.entries.size > this.maxSize) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return regex;
  }
}

const defaultCache = new TopicPatternCache();

/**
 * True when `routingKey` matches a stored topic `pattern` the way Python's `re.match` does.
 * Pass the pattern read from storage (whoever bound the queue wrote it), not a recompiled key.
 */
export function topicMatches(pattern: string, routingKey: string, cache: TopicPatternCache = defaultCache): boolean {
  return cache.get(pattern).test(routingKey);
}

/** Alias in the contract's wording. */
export const matchTopic = topicMatches;
