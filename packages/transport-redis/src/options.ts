/**
 * Transport options of the Redis transport (camelCase; core converts Kombu's snake_case and URL
 * query strings), validated with zod, and the mapping of ConnectionParams to ioredis options.
 * Defaults are Kombu 5.2.4's (docs/configuration.md#transport-options) unless a comment says
 * otherwise.
 */
import { ConfigurationError, type ConnectionParams } from '@kelp/core';
import { deadLetterOptionsShape, queueOrderStrategies } from '@kelp/virtual';
import type { RedisOptions } from 'ioredis';
import { z } from 'zod';
import { CLUSTER_LAYOUTS, CLUSTER_TRANSPORT, clusterOptions } from './cluster-options.js';
import { sentinelOptions } from './sentinel-options.js';
import { ioredisTls } from './tls-options.js';

/** URL query values arrive as strings: accept `true/false/1/0/yes/no` too. */
const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  return v;
}, z.boolean());

const seconds = (min = 0) => z.coerce.number().refine((n) => Number.isFinite(n) && n >= min, { message: `expected a number of seconds >= ${min}` });
const count = (min = 0) => z.coerce.number().int().min(min);
const optionalNumber = (schema: z.ZodType<number>) =>
  z.preprocess((v) => (v === null || v === '' || v === 'None' ? undefined : v), schema.optional());

const steps = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim();
    return s.startsWith('[') ? JSON.parse(s) : s.split(',').map((x) => Number(x.trim()));
  },
  z
    .array(z.number().int().min(0).max(9))
    .min(1)
    .refine((a) => new Set(a).size === a.length, { message: 'priority steps must be distinct integers 0..9' }),
);

export const redisTransportOptionsSchema = z.object({
  visibilityTimeout: seconds(0).default(3600),
  queueOrderStrategy: z
    .string()
    .default('round_robin')
    .refine((name) => queueOrderStrategies.has(name), {
      message: `unknown strategy; accepted: round_robin, priority, sorted or a name registered with registerQueueOrderStrategy`,
    }),
  prioritySteps: steps.default([0, 3, 6, 9]),
  sep: z.string().min(1).default('\x06\x16'),
  globalKeyprefix: z.string().default(''),
  fanoutPrefix: z
    .union([bool, z.string().regex(/^\/.*\.$/, { message: 'a string fanoutPrefix must start with "/" and end with "."' })])
    .default(true),
  fanoutPatterns: bool.default(true),
  unackedKey: z.string().min(1).default('unacked'),
  unackedIndexKey: z.string().min(1).default('unacked_index'),
  unackedMutexKey: z.string().min(1).default('unacked_mutex'),
  unackedMutexExpire: seconds(1).default(300),
  unackedRestoreLimit: optionalNumber(count(1)),
  unackedRestoreInterval: seconds(0).default(10),
  /** Only every n-th restore tick scans (Kombu 5.2.4 hard-codes 10; HEAD makes it an option). */
  unackedRestoreThrottle: count(0).default(10),
  healthCheckInterval: seconds(0).default(25),
  socketTimeout: optionalNumber(seconds(0)),
  socketConnectTimeout: optionalNumber(seconds(0)),
  /**
   * Accepted for Kombu compatibility (its sync pool size). kelp needs no pool: one auto-pipelined
   * command connection per transport (and a confirm connection once it confirms a publish) plus a
   * poll and a subscriber connection per consuming channel.
   */
  maxConnections: count(1).default(10),
  /** Seconds one poll may wait before it re-polls (Kombu's BRPOP timeout; HEAD's polling_interval). */
  brpopTimeout: seconds(0.01).default(1),
  pollingInterval: optionalNumber(seconds(0.01)),
  /**
   * A channel consuming one queue waits with a BLMOVE that takes nothing, so a push reaches the
   * consumer in one hop instead of two (kelp's own; see blocking-wait.ts for its costs).
   */
  blockingWait: bool.default(true),
  /**
   * Wake-ups by CLIENT TRACKING invalidations (kelp's own). Off, an idle consumer of several
   * queues finds new messages on the brpopTimeout timer alone, like a server without tracking:
   * for measuring what the wake-ups buy (`kelp bench polling`), or where CLIENT is allowed but
   * the redirect is not wanted.
   */
  clientTracking: bool.default(true),
  deadletterQueue: z.preprocess((v) => (v === null || v === '' ? undefined : v), z.string().optional()),
  ackEmulation: bool.default(true),
  /** Where restores push: 'bare' = the step-0 list (what 5.2.4 writes), 'priority' = the sub-list (HEAD). */
  restoreTarget: z.enum(['bare', 'priority']).default('bare'),
  /** Most messages one atomic pop takes (further capped by free prefetch slots). */
  batchSize: optionalNumber(count(1)),
  /** The virtual transports' name for batchSize. */
  pollBatchSize: optionalNumber(count(1)),
  /** maxMessageBytes, deadLetterQueues, maxRedeliveries: see @kelp/virtual options. */
  ...deadLetterOptionsShape,
  /** Alias of maxMessageBytes (the name the fault suite proposed). */
  maxBodySize: optionalNumber(count(1)),
  /** sentinel:// only, and required there: the name the sentinels monitor the master under. */
  masterName: z.string().min(1).optional(),
  /** sentinel:// only: how the sentinels themselves are reached (see sentinel-options.ts). */
  sentinelKwargs: z.record(z.string(), z.unknown()).optional(),
  /**
   * sentinel:// only: `sentinelKwargs.password` / `.username` as plain options, for URLs
   * (`?sentinel_password=...`, redacted like every password) where an object cannot go.
   */
  sentinelPassword: z.string().optional(),
  sentinelUsername: z.string().optional(),
  /** sentinel:// only: a sentinel is trusted only if it sees at least this many others. */
  minOtherSentinels: count(0).default(0),
  /** Cluster URLs only: every key in the prefix's hash-tag slot, or queues spread (see cluster-options.ts). */
  clusterLayout: z.enum(CLUSTER_LAYOUTS).default('single_slot'),
});

/**
 * Kombu Redis transport options kelp accepts without acting on them, so a Celery
 * `broker_transport_options` copied as is still works: socket keepalive and client name (ioredis
 * defaults apply), retry_on_timeout (kelp's ensure() retries), body_encoding (always base64, as
 * Kombu writes), and virtualHost (the db).
 */
export const REDIS_IGNORED_OPTION_NAMES: readonly string[] = [
  'socketKeepalive',
  'socketKeepaliveOptions',
  'retryOnTimeout',
  'clientName',
  'bodyEncoding',
  'virtualHost',
];

/** Every transport option name (camelCase) the Redis transport accepts; others are errors. */
export const REDIS_OPTION_NAMES: readonly string[] = [...Object.keys(redisTransportOptionsSchema.shape), ...REDIS_IGNORED_OPTION_NAMES];

export type RedisTransportOptions = z.output<typeof redisTransportOptionsSchema>;
export type RedisTransportOptionsInput = z.input<typeof redisTransportOptionsSchema>;

/** Validates transport options; errors name the option and the accepted values. */
export function parseRedisTransportOptions(input: Record<string, unknown> | undefined): RedisTransportOptions {
  const result = redisTransportOptionsSchema.safeParse(input ?? {});
  if (result.success) {
    const opts = result.data;
    // HEAD: polling_interval overrides the BRPOP timeout.
    if (opts.pollingInterval !== undefined) opts.brpopTimeout = opts.pollingInterval;
    opts.batchSize ??= opts.pollBatchSize ?? 100;
    opts.maxMessageBytes ??= opts.maxBodySize;
    return opts;
  }
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  const option = path ? `transportOptions.${path}` : 'transportOptions';
  let accepted = '';
  if (issue && 'values' in issue && Array.isArray(issue.values)) accepted = ` (accepted: ${issue.values.map(String).join(', ')})`;
  throw new ConfigurationError(`redis transport: option \`${option}\` is invalid: ${issue?.message ?? 'invalid'}${accepted}`, {
    cause: result.error,
    option,
  });
}

/** The Redis db number of a virtual host: '', '/', '//' -> 0; '3', '/3' -> 3; anything else is an error. */
export function parseDb(virtualHost: string | undefined): number {
  const v = (virtualHost ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  if (v === '') return 0;
  if (!/^\d+$/.test(v)) {
    throw new ConfigurationError(`redis transport: the database is an integer >= 0, not ${JSON.stringify(virtualHost)} (URL path /<db> or virtual_host)`, {
      option: 'virtualHost',
    });
  }
  return Number(v);
}

/** ConnectionParams + options -> ioredis options shared by every connection of a transport. */
export function toIoredisOptions(params: ConnectionParams, options: RedisTransportOptions): RedisOptions & { db: number } {
  const db = parseDb(params.virtualHost || (params.transportOptions['virtualHost'] as string | undefined));
  const base: RedisOptions & { db: number } = {
    db,
    // kelp reconnects and retries itself (Connection.ensure); ioredis must not queue commands
    // forever behind a dead socket, or a publish would hang instead of failing over.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    lazyConnect: true,
    connectionName: 'kelp',
  };
  if (params.username !== undefined && params.username !== '') base.username = params.username;
  if (params.password !== undefined && params.password !== '') base.password = params.password;
  if (options.socketTimeout !== undefined) base.commandTimeout = Math.round(options.socketTimeout * 1000);
  if (options.socketConnectTimeout !== undefined) base.connectTimeout = Math.round(options.socketConnectTimeout * 1000);
  const scheme = params.transport;
  if (scheme === 'sentinel') return { ...base, ...sentinelOptions(params, options) };
  if (scheme === CLUSTER_TRANSPORT) return { ...base, ...clusterOptions(params, options, db) };
  if (params.socketPath || scheme === 'redis+socket' || scheme === 'unix') {
    if (!params.socketPath) throw new ConfigurationError('redis+socket:// needs a socket path, e.g. redis+socket:///tmp/redis.sock', { option: 'url' });
    base.path = params.socketPath;
    return base;
  }
  base.host = params.hostname || '127.0.0.1';
  base.port = params.port ?? 6379;
  const tlsWanted = params.tls !== undefined || scheme === 'rediss' || scheme === 'valkeys';
  if (tlsWanted) base.tls = ioredisTls(params.tls ?? {});
  return base;
}
