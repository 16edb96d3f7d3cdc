/**
 * `rediscluster://` (alias `redis+cluster://`; `rediss+cluster://` or `ssl_*` keys for TLS) ->
 * the ioredis options that make every connection of a transport a plain connection to the
 * master of one hash slot (cluster-connector.ts):
 *
 * - every URL of the list (or array) is a seed node (default port 6379); user and password come
 *   from the first URL and are every node's (ACL user or `requirepass`);
 * - the layout (`clusterLayout` / `cluster_layout`) is `single_slot` (the default):
 *   `globalKeyprefix` must hold a hash tag (`{kelp}:`), so every key kelp (or a Kombu process
 *   with the same `global_keyprefix`) writes is in that tag's slot, on one master; or `sharded`:
 *   each queue's keys carry the queue's own tag and the transport dials every master
 *   (sharded-transport.ts);
 * - a Redis Cluster has db 0 only.
 *
 * Following the slot: each connection looks the master up at every connect, refuses a node whose
 * INFO says it is not a master, and drops itself on MOVED (the slot moved, by a resharding or a
 * failover), READONLY (it reached a demoted master) and CLUSTERDOWN, so it looks again.
 */
import { ConfigurationError, parseUrl, type ConnectionParams } from '@kelp/core';
import type { RedisOptions } from 'ioredis';
import { clusterSlotConnector, type ClusterNodeAddress } from './cluster-connector.js';
import { keySlot, prefixHashTag } from './cluster-slot.js';
import { isClusterScriptRefusal, replyCode } from './errors.js';
import { ioredisTls } from './tls-options.js';

/** The transport names of the cluster URL schemes (core maps all three to this one). */
export const CLUSTER_TRANSPORT = 'rediscluster';
export const CLUSTER_SCHEMES = ['rediscluster', 'redis+cluster', 'rediss+cluster'] as const;
export const CLUSTER_LAYOUTS = ['single_slot', 'sharded'] as const;
export type ClusterLayout = (typeof CLUSTER_LAYOUTS)[number];

/**
 * A seed that does not connect and answer `CLUSTER SLOTS` within this (or socketConnectTimeout,
 * when set) is skipped for the next one.
 */
const DEFAULT_QUERY_TIMEOUT_MS = 2000;
/** The longest pause between two attempts to reach the slot's master. */
const MAX_RECONNECT_DELAY_MS = 500;

/** Replies after which the connection looks the slot's master up again. */
const RELOCATE_CODES = new Set(['MOVED', 'READONLY', 'CLUSTERDOWN']);

/** The transport options (validated) that concern a cluster URL. */
export interface ClusterTransportOptions {
  clusterLayout: ClusterLayout;
  globalKeyprefix: string;
  socketConnectTimeout?: number | undefined;
}

/**
 * The ioredis options that make a client find and follow the master of the prefix's slot
 * (single_slot), or the options every per-master connection of the sharded layout shares.
 */
export function clusterOptions(params: ConnectionParams, options: ClusterTransportOptions, db: number): Partial<RedisOptions> {
  if (db !== 0) {
    throw new ConfigurationError(`${params.redactedUrl}: a Redis Cluster has database 0 only, not ${db}; drop the /${db} from the URL`, {
      option: 'virtualHost',
    });
  }
  // Sharded: the transport dials each master itself through its node pool (cluster-node-pool.ts),
  // so the options carry the first seed, TLS and reconnect policy, and no slot connector.
  if (options.clusterLayout === 'sharded') {
    seedNodes(params);
    return {
      host: params.hostname || '127.0.0.1',
      port: params.port ?? 6379,
      retryStrategy: (attempt: number) => Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS),
      ...(params.tls === undefined ? {} : { tls: ioredisTls(params.tls) }),
    };
  }
  const tag = prefixHashTag(options.globalKeyprefix);
  if (tag === undefined) {
    throw new ConfigurationError(
      `${params.redactedUrl}: a Redis Cluster URL needs every key in one hash slot or queues spread over the masters. ` +
        "Either put a hash tag in the key prefix, globalKeyprefix: '{kelp}:' (Kombu's global_keyprefix, ?global_keyprefix=%7Bkelp%7D:), " +
        "or choose clusterLayout: 'sharded' (cluster_layout=sharded: queues spread over the masters, not readable by Kombu)",
      { option: 'transportOptions.globalKeyprefix' },
    );
  }
  return {
    host: params.hostname || '127.0.0.1',
    port: params.port ?? 6379,
    Connector: clusterSlotConnector({
      seeds: seedNodes(params),
      slot: keySlot(`{${tag}}`),
      queryTimeoutMs: options.socketConnectTimeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : Math.round(options.socketConnectTimeout * 1000),
    }),
    reconnectOnError: reconnectOnRelocation,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS),
    ...(params.tls === undefined ? {} : { tls: ioredisTls(params.tls) }),
  };
}

/**
 * MOVED, READONLY, CLUSTERDOWN, or a script's command refused as "non local" (a script without
 * declared keys meets no MOVED: the publish script): this node may no longer serve the slot's
 * writes. `true`, not `2`:
 * the command is rejected, never resent (kelp's retry policy knows what is safe to resend), and
 * the reconnect looks the master up again. ASK and TRYAGAIN (a slot being migrated) are only
 * rejected: the source stays the slot's master until the migration ends, so reconnecting there
 * would gain nothing.
 */
export function reconnectOnRelocation(error: Error): boolean {
  return RELOCATE_CODES.has(replyCode(error) ?? '') || isClusterScriptRefusal(error);
}

/**
 * Every seed of the URL list: the first URL's host and port, then each alternate's. Every seed
 * is dialled with the first URL's TLS setting and password, so a list that mixes TLS and
 * plaintext URLs is refused: it would send the password in clear to a node meant for TLS.
 */
export function seedNodes(params: ConnectionParams): ClusterNodeAddress[] {
  const first = { host: params.hostname || '127.0.0.1', port: params.port ?? 6379 };
  // The first URL's own TLS (its scheme or ?ssl_* query), without the Connection's tls option,
  // which applies to every seed alike.
  const firstUrl = params.redactedUrl.split(';')[0] ?? params.redactedUrl;
  const firstTls = parseUrl(firstUrl).tls !== undefined;
  const others = params.alternates.map((url) => {
    const alternate = parseUrl(url);
    if (alternate.transport !== CLUSTER_TRANSPORT) {
      throw new ConfigurationError(`${params.redactedUrl}: every URL of a cluster list must be a cluster URL (${CLUSTER_SCHEMES.join('://, ')}://), not ${alternate.redactedUrl}`, {
        option: 'url',
      });
    }
    if ((alternate.tls !== undefined) !== firstTls) {
      const [tls, plain] = firstTls ? [firstUrl, alternate.redactedUrl] : [alternate.redactedUrl, firstUrl];
      throw new ConfigurationError(
        `a cluster list mixes TLS and plaintext URLs: ${tls} uses TLS, ${plain} does not; every seed is dialled alike, so use rediss+cluster:// for all of them or for none`,
        { option: 'url' },
      );
    }
    return { host: alternate.hostname || '127.0.0.1', port: alternate.port ?? 6379 };
  });
  return [first, ...others];
}
