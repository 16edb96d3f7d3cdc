/**
 * `ShardedRedisTransport`: a cluster URL with `clusterLayout: 'sharded'` (docs/redis-cluster.md#sharded-layout).
 * Each queue's keys carry its own hash tag (keys.ts), so queues spread over the masters; the
 * transport keeps one command connection per master in use (ClusterNodePool), channels store
 * through ShardedStorage, consumers are fed by ShardedPoller (per-master pipelined
 * pop-and-record), woken by CLIENT TRACKING on the masters of consumed queues (ShardedTracking);
 * fanout goes over sharded pub/sub (ShardedPublishing.putFanout, ShardedFanoutBridge), the
 * visibility sweep visits every master (restoreEveryShard), and the delayed mover finds each
 * master's delayed queues (ShardedDelayed). Confirmed publishes WAIT on every master they wrote
 * to (ShardedConfirm); the connections are health-checked and their drops reported as
 * connectionLost / reconnected (ShardedLinks).
 * Python Kombu cannot read this layout.
 */
import type { ConnectionParams, TransportCapabilities } from '@kelp/core';
import { OperationalError, throwIfAborted } from '@kelp/core';
import { type EventLoopHub, type HubTimer, type Poller, VirtualChannel, VirtualTransport } from '@kelp/virtual';
import type { Redis, RedisOptions } from 'ioredis';
import type { ClusterNodeAddress } from './cluster-connector.js';
import { ClusterNodePool } from './cluster-node-pool.js';
import { seedNodes } from './cluster-options.js';
import { confirmTimeoutLimit } from './confirm-connection.js';
import { closeClient, connectClient, createClient, type ConnectionRole } from './connections.js';
import { guardClient, isClusterScriptRefusal, isRedisChannelError, isRedisConnectionError, safeRedisCause, wrapRedisError } from './errors.js';
import { RedisKeys } from './keys.js';
import { healthTimeoutMs } from './ping-check.js';
import { parseRedisTransportOptions, toIoredisOptions, type RedisTransportOptions } from './options.js';
import { ShardedAdmin } from './sharded-admin.js';
import { ShardedDelayed } from './sharded-delayed.js';
import { ShardedConfirm } from './sharded-confirm.js';
import { ShardedFanoutBridge } from './sharded-fanout-bridge.js';
import { ShardedLinks } from './sharded-links.js';
import { ShardedPoller } from './sharded-poller.js';
import { ShardedPublishing } from './sharded-publishing.js';
import { shardedUnsupported } from './sharded-refusals.js';
import { ShardedStorage } from './sharded-storage.js';
import { ShardedTracking } from './sharded-tracking.js';

/** How long one seed may take to answer `CLUSTER SLOTS` before the next is asked (socketConnectTimeout overrides). */
const DEFAULT_QUERY_TIMEOUT_MS = 2000;

/** Whether `params` asks for the sharded layout (a cluster URL with clusterLayout / cluster_layout sharded). */
export function isShardedCluster(params: ConnectionParams): boolean {
  if (params.transport !== 'rediscluster') return false;
  const options = params.transportOptions;
  return (options['clusterLayout'] ?? options['cluster_layout']) === 'sharded';
}

/**
 * Transport options this layout cannot honour yet, refused when the connection is created.
 * `fanoutPatterns` is on by default (Kombu's default) and simply off here; only asking for it
 * explicitly is refused, since sharded pub/sub has no pattern subscription.
 */
function refuseUnsupportedOptions(params: ConnectionParams, options: RedisTransportOptions): void {
  if (!options.ackEmulation) throw shardedUnsupported('ackEmulation: false', 'transportOptions.ackEmulation');
  const raw = params.transportOptions;
  const patterns = raw['fanoutPatterns'] ?? raw['fanout_patterns'];
  if (patterns === true || patterns === 'true' || patterns === '1') {
    throw shardedUnsupported('fanoutPatterns (sharded pub/sub has no pattern subscription)', 'transportOptions.fanoutPatterns');
  }
}

export class ShardedRedisTransport extends VirtualTransport {
  readonly driverName = 'redis';
  readonly capabilities: TransportCapabilities = {
    exchangeTypes: ['direct', 'topic', 'fanout'],
    priority: true,
    visibilityTimeout: true,
    remote: true,
  };
  readonly redisOptions: RedisTransportOptions;
  readonly keys: RedisKeys;
  readonly redactedUrl: string;
  private readonly ioredisOptions: RedisOptions & { db: number };
  private readonly seeds: ClusterNodeAddress[];
  private readonly wallClock: () => number;
  private pool: ClusterNodePool | undefined;
  /** Delayed delivery over the pool, shared by every channel and the mover (made with the pool). */
  private delayed: ShardedDelayed | undefined;
  private fanout: ShardedFanoutBridge | undefined;
  /** CLIENT TRACKING on the masters of consumed queues (undefined with clientTracking: false). */
  private tracking: ShardedTracking | undefined;
  /** The confirm connections, one per master written to by a confirmed publish (after connect). */
  private confirm: ShardedConfirm | undefined;
  /** Health checks of the connections, and the connectionLost / reconnected events. */
  private readonly links: ShardedLinks;
  /** The client behind each guarded command and confirm connection (ShardedLinks follows those). */
  private readonly rawClients = new WeakMap<Redis, Redis>();
  /** The subscriber connections, closed with the transport. */
  private readonly subscribers = new Set<Redis>();
  /** The last ioredis error, without its command arguments (diagnostics). */
  lastRedisError: Error | undefined;

  constructor(params: ConnectionParams, init: { wallClock?: () => number } = {}) {
    const options = parseRedisTransportOptions(params.transportOptions);
    const ioredisOptions = toIoredisOptions(params, options);
    super({
      options: {
        visibilityTimeout: options.visibilityTimeout,
        queueOrderStrategy: options.queueOrderStrategy,
        prioritySteps: options.prioritySteps,
        sep: options.sep,
        ...(options.deadletterQueue === undefined ? {} : { deadletterQueue: options.deadletterQueue }),
        // The poller sweeps at start and then every interval; redis:// runs one call in
        // unackedRestoreThrottle (Kombu's throttle), so the same period here is interval x throttle.
        unackedRestoreInterval: (options.unackedRestoreInterval > 0 ? options.unackedRestoreInterval : 10) * Math.max(1, options.unackedRestoreThrottle),
        pollBatchSize: options.batchSize ?? 100,
        ...(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
        ...(options.deadLetterQueues === undefined ? {} : { deadLetterQueues: options.deadLetterQueues }),
        ...(options.maxRedeliveries === undefined ? {} : { maxRedeliveries: options.maxRedeliveries }),
      },
      virtualHost: '0',
    });
    refuseUnsupportedOptions(params, options);
    this.redisOptions = options;
    this.ioredisOptions = ioredisOptions;
    this.redactedUrl = params.redactedUrl;
    this.wallClock = init.wallClock ?? (() => Date.now() / 1000);
    // Throws for a brace in globalKeyprefix: it would put every queue in one slot.
    this.keys = new RedisKeys({ ...options, fanoutPatterns: false, db: 0, layout: 'sharded' });
    this.seeds = seedNodes(params);
    this.links = new ShardedLinks({
      established: () => this.established,
      firstLost: (error) => {
        this.setState('reconnecting');
        this.events.emit('connectionLost', wrapRedisError(error, this.redactedUrl, 'connection'));
      },
      allBack: () => {
        if (this.state === 'reconnecting') this.setState('connected');
        this.events.emit('reconnected');
      },
      lastError: () => this.lastRedisError,
      healthTimeoutMs: healthTimeoutMs(options.socketTimeout),
      onDead: (error) => {
        this.lastRedisError = error;
      },
    });
  }

  /** Established and not closing: links that drop now are being re-established. */
  private get established(): boolean {
    return this.state === 'connected' || this.state === 'reconnecting';
  }

  private adminTools: ShardedAdmin | undefined;

  /** inspect / restore / dead letters over every master (connects on first use). */
  get admin(): ShardedAdmin {
    this.adminTools ??= new ShardedAdmin({
      pool: async () => {
        await this.connect();
        return this.nodePool;
      },
      keys: this.keys,
      redactedUrl: this.redactedUrl,
      options: this.redisOptions,
      wallClock: this.wallClock,
    });
    return this.adminTools;
  }

  /** The per-master connections (after connect). */
  get nodePool(): ClusterNodePool {
    if (!this.pool) throw new OperationalError(`redis transport for ${this.redactedUrl} is not connected; call connect() first`);
    return this.pool;
  }

  /** A subscriber connection to one master, closed with the transport (or forgotten once its owner closed it). */
  private newSubscriber(node: ClusterNodeAddress): Redis {
    const subscriber = this.newClient('subscriber', node);
    this.subscribers.add(subscriber);
    subscriber.once('end', () => this.subscribers.delete(subscriber));
    return subscriber;
  }

  private newClient(role: ConnectionRole, node: ClusterNodeAddress): Redis {
    const client = createClient(role, {
      base: {
        ...this.ioredisOptions,
        host: node.host,
        port: node.port,
        // Every reply error passes here: a MOVED (resharding, failover) points the pool at the
        // slot's new master for the next command, whoever sent this one (a publisher that never
        // polls learns too); the publish script, which declares no keys, meets "non local key"
        // instead, which names no node: the whole map is reloaded. The command itself is not
        // resent (false): neither reply means it ran.
        reconnectOnError: (error: Error) => {
          const pool = this.pool;
          if (pool && !pool.followRedirect(error) && isClusterScriptRefusal(error)) pool.refresh().catch(() => undefined);
          return false;
        },
      },
      onError: (error) => {
        this.lastRedisError = safeRedisCause(error);
      },
    });
    // A master that went away (killed, demoted by a failover) answers nothing, so no MOVED
    // tells the pool: every reconnect attempt of a connection reloads the slot map (one reload
    // in flight at a time). Once a replica is promoted, the reload points the slots at it and
    // closes the connection to the node that serves none any more, failing what waited on it,
    // so the next poll or publish goes to the new master instead of waiting out commandTimeout.
    client.on('reconnecting', () => {
      if (this.state === 'closing' || this.state === 'closed') return;
      this.pool?.refresh().catch(() => undefined);
    });
    // Once connected, a command sent while the node is unreachable fails at once instead of
    // waiting in ioredis's offline queue: a queue that ioredis does not flush when the pool
    // closes the connection of a master that was failed over (its disconnect during a reconnect
    // wait leaves the queue to commandTimeout, 30 s). The caller's retry finds the new master.
    client.once('ready', () => {
      client.options.enableOfflineQueue = false;
    });
    if (role !== 'subscriber') this.links.watch(client);
    connectClient(client).catch((error: unknown) => {
      this.lastRedisError = safeRedisCause(error);
    });
    return client;
  }

  /** A new connection whose commands reject with kelp errors naming the redacted URL, as on redis://. */
  private guardedClient(role: 'command' | 'confirm', node: ClusterNodeAddress): Redis {
    const client = this.newClient(role, node);
    const guarded = guardClient(client, this.redactedUrl);
    this.rawClients.set(guarded, client);
    return guarded;
  }

  protected async establish(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    this.lastRedisError = undefined;
    const { socketConnectTimeout } = this.redisOptions;
    const pool = new ClusterNodePool({
      seeds: this.seeds,
      credentials: {
        ...(this.ioredisOptions.username === undefined ? {} : { username: this.ioredisOptions.username }),
        ...(this.ioredisOptions.password === undefined ? {} : { password: this.ioredisOptions.password }),
        ...(this.ioredisOptions.tls === undefined ? {} : { tls: this.ioredisOptions.tls }),
      },
      queryTimeoutMs: socketConnectTimeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : Math.round(socketConnectTimeout * 1000),
      // Guarded: every command rejects with a kelp error naming the redacted URL, as on redis://.
      connect: (node) => this.guardedClient('command', node),
    });
    this.pool = pool;
    const delayed = this.newDelayed(pool);
    this.delayed = delayed;
    try {
      // Every master answers before the transport counts as connected: a queue may be on any.
      await Promise.all((await pool.everyMaster()).map((client) => client.ping()));
    } catch (error) {
      this.pool = undefined;
      this.delayed = undefined;
      pool.close();
      const message = error instanceof Error ? error.message : String(error);
      throw new OperationalError(`Cannot connect to redis cluster at ${this.redactedUrl}: ${message}`, { cause: safeRedisCause(error) });
    }
    this.confirm = new ShardedConfirm({
      pool,
      delayed,
      newClient: (node) => this.guardedClient('confirm', node),
      keys: this.keys,
      redactedUrl: this.redactedUrl,
      maxTimeout: confirmTimeoutLimit(this.ioredisOptions.commandTimeout),
      healthTimeoutMs: healthTimeoutMs(this.redisOptions.socketTimeout),
      established: () => this.established,
      onDead: (error) => {
        this.lastRedisError = error;
      },
    });
    // A connection the reload dropped (its node serves no slot any more) is no longer a lost link
    // (registered after ShardedConfirm's own listener, which closes its confirm connections first).
    pool.onReload(() => {
      const live = [...pool.connections(), ...(this.confirm?.connections() ?? [])];
      this.links.keepOnly(live.map((client) => this.rawClients.get(client) ?? client));
    });
    const publishing = new ShardedPublishing(pool, this.keys, this.redactedUrl);
    this.fanout = new ShardedFanoutBridge({
      pool,
      keys: this.keys,
      brokerState: this.brokerState,
      // A subscriber the fanout dropped (its node serves no slot any more) is forgotten once closed.
      connect: (node) => this.newSubscriber(node),
      openChannels: () => this.openChannels(),
      store: (queue, payload, priority) => publishing.put(queue, payload, priority),
      wake: () => this.wake(),
      reportError: (error) => this.reportError(error),
    });
    if (this.redisOptions.clientTracking) {
      this.tracking = new ShardedTracking({
        pool,
        keys: this.keys,
        connect: (node) => this.newSubscriber(node),
        consumedQueues: () => this.consumedQueues(),
        wake: () => this.wake(),
        reportError: (error) => this.reportError(error),
      });
      // Channels that consumed before a reconnect of the transport consume on: track their queues again.
      void this.tracking.sync();
    }
  }

  /** Delayed delivery over `pool`; its mover reads the consumed queues' delayed index every sweep. */
  private newDelayed(pool: ClusterNodePool): ShardedDelayed {
    return new ShardedDelayed({
      pool,
      keys: this.keys,
      redactedUrl: this.redactedUrl,
      consumedQueues: () => this.consumedQueues(),
      reportError: (error) => this.reportError(error),
    });
  }

  /** The queues this transport's channels consume now. */
  private consumedQueues(): string[] {
    return this.openChannels().flatMap((channel) => (channel.hasConsumers ? channel.consumedQueues : []));
  }

  /**
   * The tracking state of each master CLIENT TRACKING is set up on, by `host:port` ('on',
   * 'unknown' while setting up, 'unsupported' when refused): empty without consumers or with
   * clientTracking: false. Diagnostics and tests. @internal
   */
  get trackingStates(): Map<string, string> {
    return this.tracking?.states() ?? new Map<string, string>();
  }

  protected async teardown(): Promise<void> {
    this.tracking?.close();
    this.tracking = undefined;
    this.fanout?.close();
    this.fanout = undefined;
    await Promise.allSettled([...this.subscribers].map((client) => closeClient(client)));
    this.subscribers.clear();
    await this.confirm?.close();
    this.confirm = undefined;
    const connections = this.pool?.connections() ?? [];
    this.pool?.close();
    this.pool = undefined;
    this.delayed = undefined;
    await Promise.allSettled(connections.map((client) => closeClient(client)));
  }

  private storageContext(pool: ClusterNodePool) {
    if (!this.confirm) throw new OperationalError(`redis transport for ${this.redactedUrl} is not connected; call connect() first`);
    return {
      pool,
      delayed: this.delayed ?? this.newDelayed(pool),
      replication: this.confirm,
      keys: this.keys,
      redactedUrl: this.redactedUrl,
      options: this.redisOptions,
      wallClock: this.wallClock,
      reportDeadLettered: (info: { queue: string; reason: string }) => this.reportDeadLettered(info),
    };
  }

  protected openChannel(channelId: number): VirtualChannel {
    return new VirtualChannel(this, channelId, new ShardedStorage(this.storageContext(this.nodePool)));
  }

  protected override createPoller(hub: EventLoopHub): Poller {
    let health: HubTimer | undefined;
    const healthCheckIntervalMs = this.redisOptions.healthCheckInterval * 1000;
    return new ShardedPoller(this, hub, {
      pollIntervalMs: Math.max(10, this.redisOptions.brpopTimeout * 1000),
      covered: () => this.tracking?.covers() === true,
      onStart: () => {
        void this.fanout?.sync();
        void this.tracking?.sync();
        // PINGs while the loop runs, as redis://'s poller does: a link that went silent is found while idle.
        if (healthCheckIntervalMs > 0 && health === undefined) health = hub.callRepeatedly(healthCheckIntervalMs, () => this.checkHealth());
      },
      onStop: () => {
        health?.cancel();
        health = undefined;
      },
      // A bind or unbind after consuming started changes the exchanges to subscribe.
      onTick: () => this.fanout?.maybeSync(),
    });
  }

  /** PINGs the command and confirm connections (see ShardedLinks). */
  private checkHealth(): void {
    this.links.checkHealth(this.pool);
    this.confirm?.checkHealth();
  }

  /** A channel's consumed queues changed: its fanout exchanges are subscribed or dropped, its queues tracked, and the loop polls. @internal */
  override consumersChanged(channel: VirtualChannel): void {
    void this.fanout?.sync();
    void this.tracking?.sync();
    super.consumersChanged(channel);
    this.wake();
  }

  override isConnectionError(error: unknown): boolean {
    return isRedisConnectionError(error);
  }

  override isChannelError(error: unknown): boolean {
    return isRedisChannelError(error);
  }
}
