/**
 * parseEnvelope checks the required fields by hand and calls zod only when unsure, and decodes
 * base64 without a regex pass. These tests pin that the fast paths accept and reject exactly
 * what the strict rules do (docs/wire-format.md#body-encoding, #required-fields).
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseEnvelope } from '../src/index.js';

/** The strict rules, written independently of the implementation (docs/wire-format.md#required-fields). */
const nullableString = z.string().nullable().optional();
const strictSchema = z
  .object({
    body: z.string().nullable().optional(),
    'content-encoding': nullableString,
    'content-type': nullableString,
    headers: z.record(z.string(), z.unknown()).nullable().optional(),
    properties: z
      .object({
        delivery_tag: z.string().min(1),
        delivery_info: z.object({ exchange: z.string().nullable(), routing_key: z.string().nullable() }).loose(),
        body_encoding: nullableString,
      })
      .loose(),
  })
  .loose();
const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function strictBody(body: string): Buffer | undefined {
  const compact = body.replace(/\s+/g, '');
  if (compact.length % 4 === 1 || !STRICT_BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

const base = (): Record<string, unknown> => ({
  body: 'eyJhIjogMX0=',
  'content-encoding': 'utf-8',
  'content-type': 'application/json',
  headers: { 'x-custom': 'h1' },
  properties: { delivery_info: { exchange: 'ex', routing_key: 'rk' }, priority: 0, body_encoding: 'base64', delivery_tag: 'tag-1' },
});

/** Field values that are right, wrong or borderline for some member of the envelope. */
const VALUES: readonly unknown[] = [undefined, null, '', 'x', 0, 1, true, [], ['a'], {}, { a: 1 }];
const PATHS: readonly (readonly string[])[] = [
  ['body'],
  ['content-encoding'],
  ['content-type'],
  ['headers'],
  ['properties'],
  ['properties', 'delivery_tag'],
  ['properties', 'body_encoding'],
  ['properties', 'delivery_info'],
  ['properties', 'delivery_info', 'exchange'],
  ['properties', 'delivery_info', 'routing_key'],
];

function withValue(path: readonly string[], value: unknown): Record<string, unknown> {
  const env = base();
  let node = env;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path[path.length - 1] as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return env;
}

describe('parseEnvelope fast path', () => {
  it('accepts and rejects every single-field variant exactly as the strict schema does', () => {
    const disagreements: string[] = [];
    for (const path of PATHS) {
      for (const value of VALUES) {
        const env = withValue(path, value);
        const body = (env.body ?? '') as unknown;
        const encoding = (env.properties as Record<string, unknown> | undefined)?.body_encoding;
        const schemaOk = strictSchema.safeParse(env).success;
        const bodyOk = !schemaOk || typeof body !== 'string' || body === '' || encoding !== 'base64' || strictBody(body) !== undefined;
        const expected = schemaOk && bodyOk && (encoding === undefined || encoding === null || encoding === '' || encoding === 'base64' || String(encoding).toLowerCase() === 'utf-8');
        const got = parseEnvelope(JSON.stringify(env)).ok;
        if (got !== expected) disagreements.push(`${path.join('.')}=${JSON.stringify(value)}: got ${got}`);
      }
    }
    expect(disagreements).toEqual([]);
  });

  it('names the field that failed when the hand check hands over to zod', () => {
    const result = parseEnvelope(JSON.stringify(withValue(['properties', 'delivery_info', 'exchange'], 5)));
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('properties.delivery_info.exchange') });
  });

  it('decodes base64 bodies to the same bytes, and refuses the same bodies, as the strict rule', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const extras = '=-_ \n$.\u00e9';
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const mismatches: string[] = [];
    for (let t = 0; t < 5000; t++) {
      let body = '';
      const length = 1 + Math.floor(random() * 14);
      for (let i = 0; i < length; i++) body += random() < 0.85 ? alphabet[Math.floor(random() * 64)] : extras[Math.floor(random() * extras.length)];
      if (random() < 0.5) body = Buffer.from(body).toString('base64');
      const env = { ...base(), body };
      const parsed = parseEnvelope(JSON.stringify(env));
      const strict = strictBody(body);
      const same = parsed.ok ? strict !== undefined && Buffer.from(parsed.envelope.body).equals(strict) : strict === undefined;
      if (!same) mismatches.push(JSON.stringify(body));
    }
    expect(mismatches).toEqual([]);
  });

  it('returns the body as a plain Uint8Array holding exactly the decoded bytes', () => {
    const result = parseEnvelope(JSON.stringify(base()));
    if (!result.ok) throw new Error(result.reason);
    expect([result.envelope.body.constructor.name, Buffer.from(result.envelope.body).toString('utf8')]).toEqual(['Uint8Array', '{"a": 1}']);
  });
});
