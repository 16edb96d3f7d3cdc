/**
 * Unknown transport options are errors, not silently ignored: `visiblity_timeout: 5` would
 * otherwise leave the one-hour default in force with nothing to say so. Transports list the
 * names they accept (`TransportDefinition.optionNames`); core adds the ones it consumes itself.
 */
import { ConfigurationError } from './errors.js';

/** Transport options Connection consumes whatever the transport (Kombu's failover policy). */
export const CORE_TRANSPORT_OPTION_NAMES: readonly string[] = ['maxRetries', 'intervalStart', 'intervalStep', 'intervalMax'];

/** Levenshtein distance, case-insensitive (option names differ from typos mostly by a letter). */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_unused, index) => index);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      const substitution = (previous[j - 1] as number) + (x[i - 1] === y[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[y.length] as number;
}

/** Snake_case and kebab-case spellings compare equal to camelCase (case is ignored by editDistance). */
const spelling = (name: string): string => name.replace(/[_-]/g, '');

/** The shortest prefix that still reads as the start of an option name rather than a coincidence. */
const MIN_PREFIX = 4;

/**
 * The accepted name closest to `name`, if it is close enough to be a typo of it: within a few
 * edits (Kombu's snake_case counts as no edit), or one name cut short of the other
 * (`prefetch` for `prefetchCount`, `blocking` for `block`).
 */
export function closestName(name: string, accepted: readonly string[]): string | undefined {
  const wanted = spelling(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of accepted) {
    const other = spelling(candidate);
    const distance = editDistance(wanted, other);
    // A third of the longer name (at least 2 edits): catches typos and slips such as `maxRetry`,
    // not unrelated names.
    const limit = Math.max(2, Math.floor(Math.max(wanted.length, other.length) / 3));
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined) return best;
  const lower = wanted.toLowerCase();
  return accepted.find((candidate) => {
    const other = spelling(candidate).toLowerCase();
    const [shorter, longer] = other.length < lower.length ? [other, lower] : [lower, other];
    return shorter.length >= MIN_PREFIX && longer.startsWith(shorter);
  });
}

/**
 * Throws when `options` (camelCase keys) holds a key neither the transport nor core accepts.
 * Transports that do not declare their names (`optionNames` undefined) are not checked.
 * @throws ConfigurationError naming the key, the closest accepted name and every accepted name.
 */
export function checkTransportOptionNames(
  options: Record<string, unknown>,
  optionNames: readonly string[] | undefined,
  where: string,
): void {
  if (optionNames === undefined) return;
  const accepted = [...new Set([...optionNames, ...CORE_TRANSPORT_OPTION_NAMES])].sort();
  const known = new Set(accepted);
  for (const key of Object.keys(options)) {
    if (known.has(key)) continue;
    const suggestion = closestName(key, accepted);
    throw new ConfigurationError(
      `Unknown transport option "${key}" for ${where}${suggestion ? `; did you mean ${suggestion}?` : '.'} ` +
        `Accepted (camelCase or snake_case): ${accepted.join(', ')}`,
      { option: `transportOptions.${key}` },
    );
  }
}
