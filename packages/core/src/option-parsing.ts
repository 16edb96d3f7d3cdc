/**
 * Validation of the options objects users pass: unknown names are refused with a did-you-mean
 * ({@link OptionNames}), and zod validation failures become {@link ConfigurationError}s that name
 * the option at fault, so callers see "priority must be ..." rather than a zod issue dump.
 */
import type { z } from 'zod';
import { ConfigurationError } from './errors.js';
import { closestName } from './option-names.js';

/**
 * The names one options object accepts, prepared once per entry point so that checking a call's
 * options is a loop over its own keys with a Set lookup each (cheap enough for `publish`).
 * Unknown names are errors: `prefetch: 1` for `prefetchCount`, or Kombu's `routing_key`, would
 * otherwise be ignored without a word and leave the default in force.
 */
export class OptionNames {
  readonly #known: ReadonlySet<string>;
  readonly #sorted: readonly string[];

  constructor(names: Iterable<string>) {
    this.#known = new Set(names);
    this.#sorted = [...this.#known].sort();
  }

  /**
   * The names of every key of `T` (optional ones included), listed as an object so that the
   * compiler checks the list against the options type: a name missing or misspelt there fails
   * to compile.
   */
  static of<T extends object>(names: { readonly [K in keyof Required<T>]: true }): OptionNames {
    return new OptionNames(Object.keys(names));
  }

  has(name: string): boolean {
    return this.#known.has(name);
  }

  /**
   * Throws for the first key of `options` that is not an accepted name. `undefined` and `null`
   * (no options) pass.
   * @throws ConfigurationError naming the key, the closest accepted name and every accepted name.
   */
  check(options: object | null | undefined, context: string): void {
    if (options === undefined || options === null) return;
    for (const name in options) {
      if (!this.#known.has(name)) this.refuse(name, context);
    }
  }

  /** @throws ConfigurationError for `name`, an option `context` does not accept. */
  refuse(name: string, context: string): never {
    const suggestion = closestName(name, this.#sorted);
    throw new ConfigurationError(
      `Unknown option \`${name}\` for ${context}${suggestion === undefined ? '.' : `; did you mean \`${suggestion}\`?`} ` +
        `Accepted: ${this.#sorted.join(', ')}`,
      { option: name },
    );
  }
}

/**
 * Validates `value` with `schema`; with `names`, first refuses any key of `value` they do not
 * accept (pass them when `value` is the caller's own options object, not a picked subset).
 * @throws ConfigurationError naming the option at fault.
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, context: string, names?: OptionNames): z.output<S> {
  if (names !== undefined && typeof value === 'object') names.check(value, context);
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const option = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : undefined;
  const detail = issue ? issue.message : 'invalid options';
  throw new ConfigurationError(
    option ? `${context}: option \`${option}\` is invalid: ${detail}` : `${context}: ${detail}`,
    option === undefined ? { cause: result.error } : { cause: result.error, option },
  );
}
