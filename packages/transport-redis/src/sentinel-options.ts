/**
 * `sentinel://` -> ioredis's Sentinel options, read as Kombu reads them:
 *
 * - every `sentinel://host:port` of the list (or array) is a sentinel (default port 26379); the
 *   db comes from the first URL;
 * - the URL's user and password are the master's (and the replicas'), not the sentinels';
 * - `masterName` (`master_name`) is required: the name the sentinels monitor the master under;
 * - `sentinelKwargs` (`sentinel_kwargs`) says how the sentinels themselves are reached: their
 *   `password`/`username` and TLS (`ssl`, `ssl_ca_certs`, ... or a `tls` object); in a URL,
 *   where no object fits, `?sentinel_password=...&sentinel_username=...` say the same;
 * - TLS to the master and replicas comes from the URL's `ssl_*` keys or the `tls` option.
 *
 * What makes a failover need no human: every connection asks the sentinels where the master is
 * each time it connects, checks that the node says `role:master` before using it, is dropped
 * when the sentinels announce `+switch-master` to another node (switch-master-watch.ts), and
 * treats a READONLY reply (it is talking to a demoted master) as a reason to reconnect through
 * the sentinels, never to retry on the same node.
 */
import { ConfigurationError, OptionNames, parseOptions, parseUrl, tlsOptionsSchema, type ConnectionParams, type TlsOptions } from '@kelp/core';
import type { RedisOptions, SentinelAddress } from 'ioredis';
import { z } from 'zod';
import { replyCode } from './errors.js';
import { quorumConnector } from './sentinel-quorum.js';
import { ioredisTls } from './tls-options.js';

/** A sentinel that does not answer its query within this is skipped for the next one. */
const DEFAULT_SENTINEL_COMMAND_TIMEOUT_MS = 5000;
/**
 * The longest pause between two attempts to reach the master. Each attempt asks the sentinels
 * again, so this bounds how long after a promotion a connection finds the new master.
 */
const MAX_RECONNECT_DELAY_MS = 500;

const seconds = z.coerce.number().refine((n) => Number.isFinite(n) && n >= 0, { message: 'expected a number of seconds >= 0' });
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))]);

const sentinelKwargsSchema = z.object({
  password: z.string().optional(),
  username: z.string().optional(),
  /** Kombu's spelling: `ssl: true` plus `ssl_*` keys. */
  ssl: flag.optional(),
  sslCertReqs: z.enum(['required', 'optional', 'none', 'CERT_REQUIRED', 'CERT_OPTIONAL', 'CERT_NONE']).optional(),
  sslCaCerts: z.string().optional(),
  sslCertfile: z.string().optional(),
  sslKeyfile: z.string().optional(),
  /** kelp's spelling: `tls: true` or a TLS settings object. */
  tls: z.union([z.boolean(), tlsOptionsSchema]).optional(),
  socketTimeout: seconds.optional(),
  socketConnectTimeout: seconds.optional(),
});

const SENTINEL_KWARGS_NAMES = new OptionNames(Object.keys(sentinelKwargsSchema.shape));

type SentinelKwargs = z.output<typeof sentinelKwargsSchema>;

/** The transport options (validated) that concern sentinel://. */
export interface SentinelTransportOptions {
  masterName?: string | undefined;
  sentinelKwargs?: Record<string, unknown> | undefined;
  sentinelPassword?: string | undefined;
  sentinelUsername?: string | undefined;
  minOtherSentinels?: number | undefined;
}

/** The ioredis options that make a client find and follow the master through the sentinels. */
export function sentinelOptions(params: ConnectionParams, options: SentinelTransportOptions): Partial<RedisOptions> {
  if (options.masterName === undefined) {
    throw new ConfigurationError(
      `${params.redactedUrl}: sentinel:// needs the transport option \`masterName\` (Kombu's \`master_name\`), ` +
        'the name the sentinels monitor the master under (`sentinel monitor <name> ...`)',
      { option: 'transportOptions.masterName' },
    );
  }
  const kwargs = parseSentinelKwargs(options.sentinelKwargs);
  const sentinelTls = sentinelTlsOf(kwargs);
  const result: Partial<RedisOptions> = {
    sentinels: sentinelAddresses(params),
    name: options.masterName,
    role: 'master',
    // kelp's SwitchMasterWatch does this job for all of a transport's connections at once and
    // leaves alone the ones already on the new master (see switch-master-watch.ts).
    failoverDetector: false,
    reconnectOnError: reconnectOnReadonly,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS),
    sentinelCommandTimeout:
      kwargs.socketTimeout === undefined ? DEFAULT_SENTINEL_COMMAND_TIMEOUT_MS : Math.round(kwargs.socketTimeout * 1000),
  };
  const password = kwargs.password ?? options.sentinelPassword;
  const username = kwargs.username ?? options.sentinelUsername;
  if (password !== undefined && password !== '') result.sentinelPassword = password;
  if (username !== undefined && username !== '') result.sentinelUsername = username;
  if (sentinelTls !== undefined) result.sentinelTLS = ioredisTls(sentinelTls);
  if ((options.minOtherSentinels ?? 0) > 0) result.Connector = quorumConnector(options.minOtherSentinels as number);
  if (params.tls !== undefined) {
    result.tls = ioredisTls(params.tls);
    result.enableTLSForSentinelMode = true;
  }
  return result;
}

/**
 * A READONLY reply means this connection reached a master that has since been demoted (it came
 * back as a replica): drop the connection and ask the sentinels again. `true`, not `2`: the
 * command is rejected, never resent, because kelp's retry policy knows what is safe to resend.
 */
export function reconnectOnReadonly(error: Error): boolean {
  return replyCode(error) === 'READONLY';
}

/** Every sentinel of the URL list: the first URL's host and port, then each alternate's. */
function sentinelAddresses(params: ConnectionParams): Partial<SentinelAddress>[] {
  const first = { host: params.hostname || '127.0.0.1', port: params.port ?? 26379 };
  const others = params.alternates.map((url) => {
    const alternate = parseUrl(url);
    if (alternate.transport !== 'sentinel') {
      throw new ConfigurationError(`${params.redactedUrl}: every URL of a sentinel:// list must be sentinel://, not ${alternate.redactedUrl}`, {
        option: 'url',
      });
    }
    return { host: alternate.hostname || '127.0.0.1', port: alternate.port ?? 26379 };
  });
  return [first, ...others];
}

function parseSentinelKwargs(raw: Record<string, unknown> | undefined): SentinelKwargs {
  const camel = Object.fromEntries(Object.entries(raw ?? {}).map(([key, value]) => [key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), value]));
  return parseOptions(sentinelKwargsSchema, camel, 'transportOptions.sentinelKwargs', SENTINEL_KWARGS_NAMES);
}

/** TLS to the sentinels: `tls` (kelp's) or `ssl` plus `ssl_*` keys (Kombu's); undefined for plain TCP. */
function sentinelTlsOf(kwargs: SentinelKwargs): TlsOptions | undefined {
  const fromSsl: TlsOptions = {};
  if (kwargs.sslCaCerts !== undefined) fromSsl.ca = kwargs.sslCaCerts;
  if (kwargs.sslCertfile !== undefined) fromSsl.cert = kwargs.sslCertfile;
  if (kwargs.sslKeyfile !== undefined) fromSsl.key = kwargs.sslKeyfile;
  if (kwargs.sslCertReqs !== undefined) fromSsl.rejectUnauthorized = !/none/i.test(kwargs.sslCertReqs);
  const sslWanted = kwargs.ssl === true || Object.keys(fromSsl).length > 0;
  if (kwargs.tls === false || (kwargs.tls === undefined && !sslWanted)) return undefined;
  return { ...fromSsl, ...(typeof kwargs.tls === 'object' ? kwargs.tls : {}) };
}
