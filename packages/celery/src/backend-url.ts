/**
 * The result backend URL -> ioredis options, parsed by core's `parseUrl` as broker URLs are, so
 * `valkey://` / `valkeys://`, percent-encoded passwords, the db path and `ssl_*` query keys mean
 * the same as for the broker (docs/celery.md#result-backend-urls). ioredis never sees the URL
 * itself: its own URL parser takes `valkey://:pw@host/1` for a Unix socket path and knows no
 * `valkeys://`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConfigurationError, parseUrl, redactUrl, secretVariants, type TlsOptions } from '@kelp/core';
import type { RedisOptions } from 'ioredis';

export interface BackendTarget {
  /** Host, port, db, credentials and TLS for every client the backend opens. */
  options: RedisOptions;
  /** The URL with its password replaced by `**`, for messages. */
  redacted: string;
  /** The password as written and percent-encoded, scrubbed from driver errors. */
  secrets: string[];
}

const SCHEMES = ['redis', 'rediss', 'valkey', 'valkeys', 'redis+socket', 'unix'];

export function backendTarget(url: string): BackendTarget {
  const redacted = redactUrl(url);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined || !SCHEMES.includes(scheme)) {
    throw new ConfigurationError(`Celery backend ${redacted}: must be a ${SCHEMES.map((s) => `${s}://`).join(', ')} URL (the Redis result backend)`, { option: 'backend' });
  }
  if (url.includes(';')) throw new ConfigurationError(`Celery backend ${redacted}: one URL only (the result backend has no failover list)`, { option: 'backend' });
  const params = parseUrl(url);
  const db = Number(params.virtualHost);
  const unknown = Object.keys(params.transportOptions);
  if (unknown.length > 0) {
    throw new ConfigurationError(`Celery backend ${redacted}: unknown query option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; accepted: virtual_host and the ssl_* keys`, { option: 'backend' });
  }
  const options: RedisOptions = { db };
  if (params.username !== undefined) options.username = params.username;
  if (params.password !== undefined) options.password = params.password;
  if (params.socketPath !== undefined) options.path = params.socketPath;
  else {
    options.host = params.hostname;
    options.port = params.port ?? 6379;
  }
  if (params.tls !== undefined) options.tls = nodeTls(params.tls, redacted);
  return { options, redacted, secrets: secretVariants([params.password]) };
}

/** kelp's TLS settings -> Node's, certificates verified unless `ssl_cert_reqs=none`. */
function nodeTls(t: TlsOptions, redacted: string): NonNullable<RedisOptions['tls']> {
  const tls: NonNullable<RedisOptions['tls']> = { rejectUnauthorized: t.rejectUnauthorized ?? true };
  const ca = pem(t.ca, redacted);
  const cert = pem(t.cert, redacted);
  const key = pem(t.key, redacted);
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  if (t.servername !== undefined) tls.servername = t.servername;
  if (t.checkHostname === false) tls.checkServerIdentity = () => undefined;
  return tls;
}

/** PEM text, or a path to read it from. */
function pem(value: string | undefined, redacted: string): string | undefined {
  if (value === undefined || value.includes('-----BEGIN')) return value;
  if (!existsSync(value)) throw new ConfigurationError(`Celery backend ${redacted}: TLS file not found: ${value}`, { option: 'backend' });
  return readFileSync(value, 'utf8');
}
