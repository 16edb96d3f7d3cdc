/**
 * Turns zod validation failures into {@link ConfigurationError}s that name the option at fault,
 * so callers see "priority must be ..." rather than a zod issue dump.
 */
import type { z } from 'zod';
import { ConfigurationError } from './errors.js';

export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, context: string): z.output<S> {
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
