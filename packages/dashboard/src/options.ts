/**
 * The options of {@link startDashboard}, checked once at the boundary: unknown names get a
 * did-you-mean, and a bind that is not loopback is refused without a password (the dashboard can
 * delete and move messages, so anyone who can reach the port must prove who they are).
 */
import { ConfigurationError, OptionNames } from 'kelp';

export interface DashboardOptions {
  /** The broker URL, any URL kelp accepts (`redis://...`, `memory://`). */
  url: string;
  /** Interface to listen on (default 127.0.0.1). Anything but loopback requires `password`. */
  host?: string;
  /** TCP port (default 0: a free port, see `Dashboard.url`). */
  port?: number;
  /** Hide the repair actions and refuse them (HTTP 403). */
  readOnly?: boolean;
  /** HTTP basic-auth password (any user name). Required for a non-loopback `host`. */
  password?: string;
  /** The per-run token every API request carries (reads and actions); default 24 random bytes (base64url). Tests pass their own. */
  token?: string;
  /** Seconds between two samples of the overview charts (default 5). */
  sampleInterval?: number;
  /** Samples kept for the charts (default 180: 15 minutes at 5 s). */
  historySize?: number;
  /** Messages a search reads at most, over every list it searches (default 100,000). */
  searchLimit?: number;
}

export interface ResolvedOptions {
  url: string;
  host: string;
  port: number;
  readOnly: boolean;
  password: string | undefined;
  token: string | undefined;
  sampleInterval: number;
  historySize: number;
  searchLimit: number;
}

const names = OptionNames.of<DashboardOptions>({
  url: true,
  host: true,
  port: true,
  readOnly: true,
  password: true,
  token: true,
  sampleInterval: true,
  historySize: true,
  searchLimit: true,
});

/** Loopback names and addresses: a bind to one of these is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

function refuse(option: string, message: string): never {
  throw new ConfigurationError(`dashboard: option \`${option}\` ${message}`, { option });
}

function positiveInt(value: unknown, option: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) refuse(option, `must be an integer >= ${min}, not ${String(value)}`);
  return value;
}

export function resolveOptions(options: DashboardOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('dashboard: options must be an object with at least `url`');
  names.check(options, 'startDashboard');
  if (typeof options.url !== 'string' || options.url.trim() === '') refuse('url', 'is required: the broker URL, e.g. redis://localhost:6379/0');
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') refuse('host', 'must be a host name or address');
  const port = positiveInt(options.port, 'port', 0, 0);
  if (port > 65535) refuse('port', `must be <= 65535, not ${port}`);
  const password = options.password;
  if (password !== undefined && (typeof password !== 'string' || password.length < 8)) refuse('password', 'must be a string of at least 8 characters');
  if (!isLoopback(host) && password === undefined) {
    refuse('password', `is required to listen on ${host}: anyone who can reach that address could act on the broker (or keep the default host 127.0.0.1)`);
  }
  const token = options.token;
  if (token !== undefined && (typeof token !== 'string' || !/^[\w-]{16,}$/.test(token))) refuse('token', 'must be at least 16 characters of [A-Za-z0-9_-]');
  const sampleInterval = options.sampleInterval ?? 5;
  if (typeof sampleInterval !== 'number' || !(sampleInterval > 0)) refuse('sampleInterval', `must be a number of seconds > 0, not ${String(sampleInterval)}`);
  if (options.readOnly !== undefined && typeof options.readOnly !== 'boolean') refuse('readOnly', 'must be a boolean');
  return {
    url: options.url,
    host,
    port,
    readOnly: options.readOnly === true,
    password,
    token,
    sampleInterval,
    historySize: positiveInt(options.historySize, 'historySize', 180, 2),
    searchLimit: positiveInt(options.searchLimit, 'searchLimit', 100_000),
  };
}
