/**
 * Transport options arrive in two spellings: Kombu's snake_case (URL query strings, options copied
 * from a Celery `broker_transport_options`) and kelp's camelCase. Both are accepted and turned into
 * camelCase here; each transport validates the values it understands with zod.
 */
import { ConfigurationError } from './errors.js';

/** `visibility_timeout` -> `visibilityTimeout`; camelCase keys come back unchanged. */
export function toCamelCase(key: string): string {
  return key.replace(/[_-]+([a-zA-Z0-9])/g, (_match, char: string) => char.toUpperCase());
}

/**
 * Copies `options` with every key in camelCase. When both spellings of one option are present the
 * camelCase one wins, because it is the spelling kelp documents.
 */
export function normalizeTransportOptions(options: Record<string, unknown> | undefined): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (!options) return result;
  const entries = Object.entries(options);
  for (const [key, value] of entries) {
    if (key !== toCamelCase(key)) result[toCamelCase(key)] = value;
  }
  for (const [key, value] of entries) {
    if (key === toCamelCase(key)) result[key] = value;
  }
  return result;
}

/** Options whose query values are names: never turned into numbers (`global_keyprefix=123`). */
const STRING_OPTIONS = new Set([
  'sep',
  'globalKeyprefix',
  'masterName',
  'clusterLayout',
  'sentinelPassword',
  'sentinelUsername',
  'unackedKey',
  'unackedIndexKey',
  'unackedMutexKey',
  'queueOrderStrategy',
  'deadletterQueue',
  'clientName',
  'bodyEncoding',
  'fanoutPrefix',
]);

/** Options that are flags; `fanout_prefix` may also be a string prefix, so it is checked here too. */
const BOOLEAN_OPTIONS = new Set([
  'ackEmulation',
  'fanoutPrefix',
  'fanoutPatterns',
  'socketKeepalive',
  'retryOnTimeout',
]);

/** Options that are comma-separated number lists. */
const NUMBER_LIST_OPTIONS = new Set(['prioritySteps']);

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);
const NUMBER = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** Parses `true/false/yes/no/on/off/1/0`; undefined for anything else. */
export function parseBooleanWord(value: string): boolean | undefined {
  const lower = value.trim().toLowerCase();
  if (TRUE_WORDS.has(lower)) return true;
  if (FALSE_WORDS.has(lower)) return false;
  return undefined;
}

/**
 * Turns one URL query value into the type its option expects: number lists for
 * `priority_steps`, booleans for flags, strings for names, and otherwise a number when the text is
 * numeric, a boolean for `true`/`false`, or the text itself.
 */
export function coerceQueryValue(key: string, value: string, redactedUrl: string): unknown {
  if (NUMBER_LIST_OPTIONS.has(key)) {
    const parts = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
    const numbers = parts.map(Number);
    if (parts.some((part) => !NUMBER.test(part))) {
      throw new ConfigurationError(
        `URL ${redactedUrl}: query option ${key} must be a comma-separated list of numbers, e.g. 0,3,6,9; got "${value}"`,
        { option: `transportOptions.${key}` },
      );
    }
    return numbers;
  }
  if (BOOLEAN_OPTIONS.has(key)) {
    const flag = parseBooleanWord(value);
    if (flag !== undefined) return flag;
  }
  if (STRING_OPTIONS.has(key)) return value;
  if (NUMBER.test(value.trim())) return Number(value);
  const lower = value.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return value;
}
