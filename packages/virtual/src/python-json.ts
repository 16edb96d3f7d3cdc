/**
 * A `json.dumps` twin for the default options of Python's encoder: separators `", "` and `": "`,
 * `ensure_ascii=True`, keys in insertion order. Only needed when a byte-identical envelope
 * matters (tests against captured Kombu traffic, checksums); Kombu itself reads compact JSON.
 */

/** Python escapes `"`, `\\` and every character outside printable ASCII (space to `~`). */
function escapeString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const ch = text[i] as string;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    // Code units, not code points: Python writes astral characters as surrogate pairs too.
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Serializes `value` exactly as Python's `json.dumps(value)` would for JSON-compatible data. */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return escapeString(value);
    case 'number':
      // Python writes NaN/Infinity literally; JSON.stringify writes null. Neither is portable.
      if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => pythonJsonDumps(v)).join(', ')}]`;
      const parts: string[] = [];
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        if (v === undefined) continue;
        parts.push(`${escapeString(key)}: ${pythonJsonDumps(v)}`);
      }
      return `{${parts.join(', ')}}`;
    }
    default:
      return 'null';
  }
}
