/**
 * @kelp/transport-redis: kelp's Redis transport, wire-compatible with Python Kombu 5.2.4 /
 * Celery 5.2.6.
 *
 * Supports: direct, topic and fanout exchanges (fanout over pub/sub, like Kombu), priorities
 * (Kombu's inverted 0-first sub-lists), ack emulation with visibility timeout (`unacked`,
 * `unacked_index`, `unacked_mutex`), globalKeyprefix.
 *
 * URLs: `redis://[user:password@]host[:port][/db]`, `rediss://` (TLS, certificates verified),
 * `redis+socket:///path/to.sock[?virtual_host=db]`, `unix:///path`, `valkey://`, `valkeys://`,
 * `sentinel://[:password@]host:port[/db];sentinel://host2:port2` (or an array; the password is
 * the master's) with `masterName` required and `sentinelKwargs`, `minOtherSentinels`: the
 * connections follow a failover by themselves (sentinel-options.ts);
 * `rediscluster://[user:password@]h1:7000;rediscluster://h2:7001` (or an array; alias
 * `redis+cluster://`, TLS with `rediss+cluster://`): seed nodes of a Redis Cluster, with a hash
 * tag in `globalKeyprefix` (`{kelp}:`) so every key is in one slot, whose master the connections
 * find and follow by themselves (cluster-options.ts; Kombu-compatible); or with
 * `clusterLayout: 'sharded'` each queue in a slot of its own, spread over the masters
 * (sharded-transport.ts; kelp-only, no delayed delivery, confirm, x-max-length, x-expires or
 * fanoutPatterns yet).
 *
 * Options (camelCase; snake_case in URLs): visibilityTimeout (3600), queueOrderStrategy,
 * prioritySteps ([0,3,6,9]), sep ('\x06\x16'), globalKeyprefix, fanoutPrefix, fanoutPatterns,
 * unackedKey/IndexKey/MutexKey, unackedMutexExpire (300), unackedRestoreLimit,
 * unackedRestoreInterval (10), unackedRestoreThrottle (10), healthCheckInterval (25),
 * socketTimeout, socketConnectTimeout, maxConnections, brpopTimeout/pollingInterval (1),
 * deadletterQueue, ackEmulation (true), restoreTarget ('bare' | 'priority'), batchSize (100);
 * masterName, sentinelKwargs, minOtherSentinels (0) for sentinel://; clusterLayout ('single_slot')
 * for cluster URLs.
 *
 * Beyond Kombu: a pop and its unacked record are one atomic Lua step (no loss window), late
 * fanout consumers are subscribed, cancel really unsubscribes, unparseable messages go to
 * `<queue>\x06\x16dead` instead of being lost, confirmed publishes (`confirm`: written on a connection
 * of their own, with one `WAIT` at a time there, shared by the confirmed publishes answered before it).
 */
import type { ConnectionParams, TransportDefinition } from '@kelp/core';
import { REDIS_OPTION_NAMES } from './options.js';
import { RedisTransport } from './redis-transport.js';
import { isShardedCluster, ShardedRedisTransport } from './sharded-transport.js';

export { type RedisChannel, RedisTransport, type RedisTransportInit } from './redis-transport.js';
export { ShardedRedisTransport } from './sharded-transport.js';
export { RedisKeys, DEAD_LETTER_SUFFIX, type KeyOptions, type BindingMember } from './keys.js';
export {
  parseRedisTransportOptions,
  redisTransportOptionsSchema,
  REDIS_OPTION_NAMES,
  REDIS_IGNORED_OPTION_NAMES,
  type RedisTransportOptions,
  type RedisTransportOptionsInput,
} from './options.js';
export { isRedisConnectionError, isRedisChannelError } from './errors.js';

/** URL schemes served by the Redis transport. */
export const REDIS_ALIASES = ['redis', 'rediss', 'redis+socket', 'valkey', 'valkeys', 'unix', 'sentinel', 'rediscluster'] as const;

/** The registry entry `kelp` registers for redis://, rediss://, redis+socket://, valkey://, valkeys://, unix://, sentinel://, rediscluster:// (core maps redis+cluster:// and rediss+cluster:// to it). */
export function createRedisTransport(): TransportDefinition {
  return {
    aliases: REDIS_ALIASES,
    defaultPort: 6379,
    optionNames: REDIS_OPTION_NAMES,
    create: (params: ConnectionParams) => (isShardedCluster(params) ? new ShardedRedisTransport(params) : new RedisTransport(params)),
  };
}
