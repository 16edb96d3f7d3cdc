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

/** The accepted name closest to `name`, if it is close enough to be a typo of it. */
export function closestName(name: string, accepted: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of accepted) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // A third of the name (at least 2 edits): catches typos and snake/camel slips, not unrelated names.
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
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
