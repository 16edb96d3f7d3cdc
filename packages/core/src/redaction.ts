/**
 * Keeps broker passwords out of error messages and events. URLs are redacted where they are
 * formatted (`redactUrl`); this catches the password showing up inside a driver's own error text.
 */
import { OperationalError } from './errors.js';

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

/**
 * `error` itself when its message holds no secret; otherwise an OperationalError with the scrubbed
 * message and no `cause` (the cause would carry the password along).
 */
export function sanitizeError(error: unknown, secrets: readonly string[]): Error {
  const original = error instanceof Error ? error : new Error(String(error));
  const scrubbed = scrubSecrets(original.message, secrets);
  const stack = original.stack ?? '';
  if (scrubbed === original.message && scrubSecrets(stack, secrets) === stack) return original;
  const safe = new OperationalError(scrubbed);
  safe.name = original.name;
  return safe;
}
