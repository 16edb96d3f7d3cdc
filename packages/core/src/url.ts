/**
 * Broker URLs -> {@link ConnectionParams}, with the forms and results Kombu 5.2.4 was measured
 * with (docs/kombu-compatibility.md#urls, docs/wire-format.md#databases):
 *
 * - `redis://[user:password@]host[:port][/db][?options]`, `valkey://` (same thing), `redis://` alone
 *   is 127.0.0.1:6379 db 0. `user:password` are percent-decoded.
 * - `rediss://`, `valkeys://`: TLS. Without TLS options kelp VERIFIES the server certificate, unlike
 *   Kombu 5.2.4, which silently used `CERT_NONE`; pass `?ssl_cert_reqs=none` to opt out.
 * - `redis+socket:///path/to.sock[?virtual_host=4]`, `unix:///path`: a Unix socket.
 * - `sentinel://h1:26379;sentinel://h2`: Sentinel addresses (default port 26379); db from the first.
 * - `rediscluster://h1:7000;rediscluster://h2:7001` (alias `redis+cluster://`; `rediss+cluster://`
 *   for TLS): seed nodes of a Redis Cluster (default port 6379); user and password from the first.
 * - `memory://` and `memory://name`: the in-process broker named `name` (default `default`).
 * - `url1;url2` or an array: a failover list (the first URL is used, the rest are `alternates`).
 * - any other scheme a transport registered: host, port, path (virtual host) and query, parsed generically.
 *
 * Query keys are Kombu's snake_case transport options (`visibility_timeout=30`), converted to
 * camelCase and coerced; `ssl_*` keys become TLS settings; the options object beats the query.
 */
import type { ConnectionParams, TlsOptions } from './connection-params.js';
import { ConfigurationError } from './errors.js';
import { checkTransportOptionNames } from './option-names.js';
import { coerceQueryValue, normalizeTransportOptions, parseBooleanWord, toCamelCase } from './transport-options.js';
import { defaultRegistry, type TransportRegistry } from './transport-registry.js';

export interface ParseUrlOptions {
  /** Transport options in camelCase or snake_case; they override the URL query. */
  transportOptions?: Record<string, unknown> | undefined;
  /** TLS settings (override the `ssl_*` query keys); `true` turns TLS on with defaults. */
  tls?: TlsOptions | boolean | undefined;
  /** The virtual host (Redis db) when neither the URL path nor its query gives one. */
  virtualHost?: string | number | undefined;
  /** Where unknown schemes are looked up (default: the default registry). */
  registry?: TransportRegistry | undefined;
}

interface SchemeSyntax {
  /** The transport alias the scheme selects. */
  transport: string;
  kind: 'redis' | 'socket' | 'sentinel' | 'memory';
  defaultPort: number | undefined;
  tls: boolean;
}

/** URL forms kelp knows how to parse even before a transport registers (the kelp package does). */
const BUILT_IN: Record<string, SchemeSyntax> = {
  redis: { transport: 'redis', kind: 'redis', defaultPort: 6379, tls: false },
  rediss: { transport: 'rediss', kind: 'redis', defaultPort: 6379, tls: true },
  valkey: { transport: 'redis', kind: 'redis', defaultPort: 6379, tls: false },
  valkeys: { transport: 'rediss', kind: 'redis', defaultPort: 6379, tls: true },
  'redis+socket': { transport: 'redis', kind: 'socket', defaultPort: undefined, tls: false },
  unix: { transport: 'redis', kind: 'socket', defaultPort: undefined, tls: false },
  sentinel: { transport: 'sentinel', kind: 'sentinel', defaultPort: 26379, tls: false },
  rediscluster: { transport: 'rediscluster', kind: 'redis', defaultPort: 6379, tls: false },
  'redis+cluster': { transport: 'rediscluster', kind: 'redis', defaultPort: 6379, tls: false },
  'rediss+cluster': { transport: 'rediscluster', kind: 'redis', defaultPort: 6379, tls: true },
  memory: { transport: 'memory', kind: 'memory', defaultPort: undefined, tls: false },
};

/**
 * Schemes whose `;`-separated URLs name one group of servers the transport handles itself (the
 * sentinels of one master, the seed nodes of one cluster), never alternatives to fail over to.
 */
export const GROUP_SCHEMES: readonly string[] = ['sentinel', 'rediscluster', 'redis+cluster', 'rediss+cluster'];

/** The schemes whose URL syntax is built in. */
export const BUILT_IN_SCHEMES: readonly string[] = Object.keys(BUILT_IN).sort();

const DEFAULT_HOST = '127.0.0.1';
const DB_RULE = "db must be an integer between 0 and 15 (or the server's databases setting)";
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s;

/** Splits a `;`-separated failover string (or an array of them) into single URLs. */
export function splitUrls(url: string | readonly string[]): string[] {
  const parts = typeof url === 'string' ? [url] : [...url];
  return parts.flatMap((part) => part.split(';')).map((part) => part.trim()).filter((part) => part !== '');
}

/**
 * `url` with every password replaced by `**` (in each URL of a `;` list and in `password=` query
 * values), safe for error messages, logs and `toString()`.
 */
export function redactUrl(url: string): string {
  return url
    .split(';')
    .map((part) => redactOne(part))
    .join(';');
}

function redactOne(url: string): string {
  let result = url;
  const match = SCHEME.exec(url);
  if (match) {
    const prefix = url.slice(0, url.length - (match[2] ?? '').length);
    const rest = match[2] ?? '';
    const { authority, tail } = splitAuthority(rest);
    const at = authority.lastIndexOf('@');
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      const colon = userinfo.indexOf(':');
      if (colon >= 0 && colon < userinfo.length - 1) {
        result = `${prefix}${userinfo.slice(0, colon)}:**${authority.slice(at)}${tail}`;
      }
    }
  }
  return result.replace(/([?&](?:[a-z_]*password)=)[^&#;]*/gi, '$1**');
}

/** The authority ends at the first `/` or `?`; a password must percent-encode them. */
function splitAuthority(rest: string): { authority: string; tail: string } {
  const end = rest.search(/[/?#]/);
  return end < 0 ? { authority: rest, tail: '' } : { authority: rest.slice(0, end), tail: rest.slice(end) };
}

function decode(text: string, what: string, redacted: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    throw new ConfigurationError(`URL ${redacted}: the ${what} is not valid percent-encoding`, { cause, option: 'url' });
  }
}

/**
 * Parses a broker URL (or a `;`-separated failover list / array: the first is parsed, the others
 * become `alternates`).
 * @throws ConfigurationError for an unknown scheme (listing the known ones), a bad port, or a
 *   db that is not an integer; messages show the URL with the password redacted.
 */
export function parseUrl(url: string | readonly string[], options: ParseUrlOptions = {}): ConnectionParams {
  const urls = splitUrls(url);
  const first = urls[0];
  if (first === undefined) {
    throw new ConfigurationError('The broker URL is empty; use e.g. "memory://" or "redis://localhost:6379/0"', {
      option: 'url',
    });
  }
  const params = parseSingle(first, options);
  return {
    ...params,
    alternates: urls.slice(1),
    redactedUrl: redactUrl(urls.join(';')),
  };
}

function parseSingle(url: string, options: ParseUrlOptions): ConnectionParams {
  const registry = options.registry ?? defaultRegistry;
  const redacted = redactUrl(url);
  // Kombu accepts a bare transport name ("memory", "redis") for its default URL.
  const match = SCHEME.exec(/^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(url) ? `${url}://` : url);
  if (!match) {
    throw new ConfigurationError(`"${redacted}" is not a broker URL; expected <scheme>://..., e.g. redis://localhost:6379/0`, {
      option: 'url',
    });
  }
  const scheme = (match[1] ?? '').toLowerCase();
  const syntax = syntaxFor(scheme, registry, redacted);
  let rest = match[2] ?? '';
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const { authority, tail } = splitAuthority(rest);
  const question = tail.indexOf('?');
  const path = question >= 0 ? tail.slice(0, question) : tail;
  const query = question >= 0 ? tail.slice(question + 1) : '';

  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : undefined;
  const hostport = at >= 0 ? authority.slice(at + 1) : authority;
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'user name', redacted);
    username = user === '' ? undefined : user;
    if (colon >= 0) {
      const pass = decode(userinfo.slice(colon + 1), 'password', redacted);
      password = pass === '' ? undefined : pass;
    }
  }
  const { hostname, port } = parseHostPort(hostport, redacted);

  const fromQuery = parseQuery(query, redacted);
  const tls = resolveTls(syntax.tls, fromQuery.tls, options.tls, fromQuery.tlsRequested);
  const transportOptions = { ...fromQuery.transportOptions, ...normalizeTransportOptions(options.transportOptions) };
  // Checked here, where the transport is known, so a typo fails when the Connection is made.
  if (registry.has(syntax.transport)) {
    checkTransportOptionNames(transportOptions, registry.resolve(syntax.transport).optionNames, redacted);
  }
  const explicitHost = options.virtualHost === undefined ? undefined : String(options.virtualHost);
  const base = {
    transport: syntax.transport,
    username,
    password,
    tls,
    transportOptions,
    alternates: [] as string[],
    redactedUrl: redacted,
  };

  switch (syntax.kind) {
    case 'memory': {
      const name = decode(hostname || path.replace(/^\/+/, ''), 'broker name', redacted);
      return { ...base, hostname: '', port: undefined, virtualHost: name || 'default', socketPath: undefined };
    }
    case 'socket': {
      const socketPath = decode(path, 'socket path', redacted);
      if (socketPath === '' || socketPath === '/') {
        throw new ConfigurationError(`URL ${redacted}: a socket URL needs the socket path, e.g. redis+socket:///tmp/redis.sock`, {
          option: 'url',
        });
      }
      const db = parseDb(explicitHost ?? fromQuery.virtualHost ?? '', redacted);
      return { ...base, hostname: '', port: undefined, virtualHost: db, socketPath };
    }
    case 'redis':
    case 'sentinel': {
      const db = parseDb(explicitHost ?? fromQuery.virtualHost ?? path, redacted);
      const host = hostname || DEFAULT_HOST;
      return { ...base, hostname: host, port: port ?? syntax.defaultPort, virtualHost: db, socketPath: undefined };
    }
    default: {
      const vhost = explicitHost ?? fromQuery.virtualHost ?? (decode(path.replace(/^\//, ''), 'path', redacted) || '/');
      return { ...base, hostname, port: port ?? syntax.defaultPort, virtualHost: vhost, socketPath: undefined };
    }
  }
}

function syntaxFor(scheme: string, registry: TransportRegistry, redacted: string): SchemeSyntax | Omit<SchemeSyntax, 'kind'> & { kind: 'generic' } {
  const builtIn = BUILT_IN[scheme];
  if (builtIn) return builtIn;
  if (registry.has(scheme)) {
    return { transport: scheme, kind: 'generic', defaultPort: registry.resolve(scheme).defaultPort, tls: false };
  }
  const known = [...new Set([...registry.schemes(), ...BUILT_IN_SCHEMES])].sort();
  throw new ConfigurationError(
    `URL ${redacted}: unknown transport scheme "${scheme}". Known schemes: ${known.join(', ')}. ` +
      'A third-party transport must call registerTransport() first.',
    { option: 'url' },
  );
}

function parseHostPort(hostport: string, redacted: string): { hostname: string; port: number | undefined } {
  let hostname = hostport;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new ConfigurationError(`URL ${redacted}: unterminated IPv6 address`, { option: 'url' });
    hostname = hostport.slice(1, close);
    const after = hostport.slice(close + 1);
    if (after.startsWith(':')) portText = after.slice(1);
  } else {
    const colon = hostport.lastIndexOf(':');
    if (colon >= 0) {
      hostname = hostport.slice(0, colon);
      portText = hostport.slice(colon + 1);
    }
  }
  let port: number | undefined;
  if (portText !== undefined && portText !== '') {
    port = /^\d+$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      throw new ConfigurationError(`URL ${redacted}: port must be an integer between 1 and 65535, got "${portText}"`, {
        option: 'url',
      });
    }
  }
  return { hostname: decode(hostname, 'host name', redacted), port };
}

/**
 * `''`, `/`, `//` -> `'0'`; `/3` or `3` -> `'3'`; anything else is an error
 * (docs/wire-format.md#databases).
 */
function parseDb(raw: string, redacted: string): string {
  const text = raw.replace(/^\/+/, '');
  if (text === '') return '0';
  if (/^\d+$/.test(text)) return String(Number(text));
  throw new ConfigurationError(`URL ${redacted}: ${DB_RULE}, got "${text}"`, { option: 'virtualHost' });
}

interface ParsedQuery {
  transportOptions: Record<string, unknown>;
  tls: TlsOptions;
  tlsRequested: boolean;
  virtualHost: string | undefined;
}

const CERT_REQS: Record<string, boolean> = {
  required: true,
  cert_required: true,
  // Python's CERT_OPTIONAL verifies like CERT_REQUIRED on the client side.
  optional: true,
  cert_optional: true,
  none: false,
  cert_none: false,
};

function parseQuery(query: string, redacted: string): ParsedQuery {
  const result: ParsedQuery = { transportOptions: {}, tls: {}, tlsRequested: false, virtualHost: undefined };
  for (const [rawKey, value] of new URLSearchParams(query)) {
    const key = toCamelCase(rawKey);
    if (key === 'virtualHost') {
      result.virtualHost = value;
    } else if (key === 'ssl' || key === 'tls') {
      result.tlsRequested = parseBooleanWord(value) ?? true;
    } else if (key.startsWith('ssl')) {
      result.tlsRequested = true;
      applySslKey(result.tls, key, value, redacted);
    } else {
      result.transportOptions[key] = coerceQueryValue(key, value, redacted);
    }
  }
  return result;
}

function applySslKey(tls: TlsOptions, key: string, value: string, redacted: string): void {
  switch (key) {
    case 'sslCertReqs': {
      const verify = CERT_REQS[value.toLowerCase()];
      if (verify === undefined) {
        throw new ConfigurationError(
          `URL ${redacted}: ssl_cert_reqs must be one of required, optional, none (or CERT_REQUIRED, CERT_OPTIONAL, CERT_NONE), got "${value}"`,
          { option: 'tls.rejectUnauthorized' },
        );
      }
      tls.rejectUnauthorized = verify;
      return;
    }
    case 'sslCaCerts':
      tls.ca = value;
      return;
    case 'sslCertfile':
      tls.cert = value;
      return;
    case 'sslKeyfile':
      tls.key = value;
      return;
    case 'sslServername':
      tls.servername = value;
      return;
    case 'sslCheckHostname': {
      const flag = parseBooleanWord(value);
      if (flag === undefined) {
        throw new ConfigurationError(`URL ${redacted}: ssl_check_hostname must be true or false, got "${value}"`, {
          option: 'tls.checkHostname',
        });
      }
      tls.checkHostname = flag;
      return;
    }
    default:
      throw new ConfigurationError(
        `URL ${redacted}: unknown TLS query option "${key}"; accepted: ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_servername, ssl_check_hostname`,
        { option: 'tls' },
      );
  }
}

/** TLS is on for rediss://, for any ssl_* query key, and for a `tls` option; verification defaults to on. */
function resolveTls(
  schemeTls: boolean,
  queryTls: TlsOptions,
  optionTls: TlsOptions | boolean | undefined,
  queryRequested: boolean,
): TlsOptions | undefined {
  if (optionTls === false) return undefined;
  const enabled = schemeTls || queryRequested || optionTls !== undefined;
  if (!enabled) return undefined;
  const merged: TlsOptions = { ...queryTls, ...(typeof optionTls === 'object' ? optionTls : {}) };
  merged.rejectUnauthorized ??= true;
  return merged;
}
