/** kelp's TLS settings (from `rediss://`, `ssl_*` query keys or the `tls` option) -> Node's TLS options. */
import { ConfigurationError, type TlsOptions } from '@kelp/core';
import { existsSync, readFileSync } from 'node:fs';
import type { RedisOptions } from 'ioredis';

/** PEM text, or a path to read it from. */
function pem(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.includes('-----BEGIN')) return value;
  if (!existsSync(value)) throw new ConfigurationError(`redis transport: TLS file not found: ${value}`, { option: 'tls' });
  return readFileSync(value, 'utf8');
}

/** kelp's TLS settings -> Node's TLS options (certificates verified unless told not to). */
export function ioredisTls(t: TlsOptions): NonNullable<RedisOptions['tls']> {
  const tls: NonNullable<RedisOptions['tls']> = {};
  const ca = pem(t.ca);
  const cert = pem(t.cert);
  const key = pem(t.key);
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  if (t.servername !== undefined) tls.servername = t.servername;
  // Unlike Kombu 5.2.4 (CERT_NONE by default) kelp verifies certificates unless told not to.
  tls.rejectUnauthorized = t.rejectUnauthorized ?? true;
  return tls;
}

