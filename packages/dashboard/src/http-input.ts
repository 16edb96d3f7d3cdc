/** Reading and checking what a request carries; a bad value is a 400 with the field named. */
import type { Context } from 'hono';

export class BadRequest extends Error {
  override name = 'BadRequest';
}

export function queryInt(c: Context, name: string, fallback: number, range: { min: number; max: number }): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new BadRequest(`${name} must be an integer from ${range.min} to ${range.max}`);
  }
  return value;
}

export function queryChoice<T extends string>(c: Context, name: string, choices: readonly T[], fallback: T): T {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw new BadRequest(`${name} must be one of ${choices.join(', ')}`);
  return raw as T;
}

/** The JSON object body of an action. */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new BadRequest('the body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('the body must be a JSON object');
  return body as Record<string, unknown>;
}

export function nameField(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '' || value.length > 1000) throw new BadRequest(`${field} must be a queue name`);
  return value;
}

export function optionalNumber(body: Record<string, unknown>, field: string, min: number): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new BadRequest(`${field} must be a number >= ${min}`);
  return value;
}

export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > 1000) throw new BadRequest(`${field} must be a non-empty string`);
  return value;
}
