/**
 * `RedisTransport`: connections, channels and the poller of the Redis transport.
 *
 * Connections (design.md): one shared command connection with auto-pipelining (publish, ack,
 * bookkeeping, basicGet), one shared confirm connection opened by the first confirmed publish
 * (ConfirmConnection), and for each channel that consumes, a poll connection and a subscriber
 * connection (see channel-poller.ts for why the poll connection never blocks on BRPOP).
 */
import type { ConnectionParams, TransportCapabilities } from '@kelp/core';
import { OperationalError, throwIfAborted } from '@kelp/core';
import { type EventLoopHub, type Poller, VirtualAdmin, VirtualChannel, VirtualTransport } from '@kelp/virtual';
import type { Redis, RedisOptions } from 'ioredis';
import { redisAdminStorage } from './admin.js';
import { ChannelPoller, type PollerLink } from './channel-poller.js';
import { ConfirmConnection, confirmTimeoutLimit } from './confirm-connection.js';
import { closeClient, connectClient, createClient, locatesMaster, type ConnectionRole } from './connections.js';
import { guardClient, isRedisChannelError, isRedisConnectionError, safeRedisCause, wrapRedisError } from './errors.js';
import { RedisKeys } from './keys.js';
import { MultiChannelPoller } from './poller.js';
import { parseRedisTransportOptions, toIoredisOptions, type RedisTransportOptions } from './options.js';
import { ConsumeBridge } from './consume-bridge.js';
import { healthTimeoutMs, PingCheck } from './ping-check.js';
import { pollAckLane } from './poll-ack-lane.js';
import { RedisStorage } from './redis-storage.js';
import { RedisUnackedStore } from './redis-unacked.js';
import { expiredDeadLetterFlags } from './scripts.js';
import { SwitchMasterWatch } from './switch-master-watch.js';
import { CLUSTER_TRANSPORT } from './cluster-options.js';
import { ClusterSlotWatch } from './cluster-slot-watch.js';


/** One id per poller connection, for the lost-links set. */
const linkIds = new WeakMap<ChannelPoller, Record<PollerLink, object>>();
function linkId(poller: ChannelPoller, link: PollerLink): object {
  let ids = linkIds.get(poller);
  if (!ids) {
    ids = { poll: {}, subscriber: {} };
    linkIds.set(poller, ids);
  }
  return ids[link];
}

/** The channel a RedisTransport opens: a VirtualChannel over a RedisStorage. */
export type RedisChannel = VirtualChannel;

export interface RedisTransportInit {
  /** Wall clock in seconds for unacked_index scores; defaults to Date.now() / 1000. */
  wallClock?: () => number;
}

export class RedisTransport extends VirtualTransport {
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
  private readonly ioredisOptions: RedisOptions;
  private readonly wallClock: () => number;
  private commandClient: Redis | undefined;
  private readonly pollers = new Map<VirtualChannel, ChannelPoller>();
  /** The storage of each open channel, for its poller (see ensurePoller). */
  private readonly storages = new Map<VirtualChannel, RedisStorage>();
  /**
   * Links (the command and confirm connections, each poller's poll/subscriber connection) found
   * dead and not back yet: 'connectionLost' when the first goes, 'reconnected' when the last
   * comes back.
   */
  private readonly lostLinks = new Set<object | string>();
  private readonly commandHealth: PingCheck;
  /** sentinel:// only: moves this transport's connections when the sentinels switch masters. */
  private readonly switchWatch: SwitchMasterWatch | undefined;
  /** Cluster URLs only: moves this transport's connections together when the hash-tag slot moves. */
  private readonly slotWatch: ClusterSlotWatch | undefined;

  constructor(params: ConnectionParams, init: RedisTransportInit = {}) {
    const options = parseRedisTransportOptions(params.transportOptions);
    const ioredisOptions = toIoredisOptions(params, options);
    super({
      options: {
        visibilityTimeout: options.visibilityTimeout,
        queueOrderStrategy: options.queueOrderStrategy,
        prioritySteps: options.prioritySteps,
        sep: options.sep,
        ...(options.deadletterQueue === undefined ? {} : { deadletterQueue: options.deadletterQueue }),
        unackedRestoreInterval: options.unackedRestoreInterval,
        pollBatchSize: options.batchSize ?? 100,
        ...(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
        ...(options.deadLetterQueues === undefined ? {} : { deadLetterQueues: options.deadLetterQueues }),
        ...(options.maxRedeliveries === undefined ? {} : { maxRedeliveries: options.maxRedeliveries }),
      },
      virtualHost: String(ioredisOptions.db),
    });
    this.redisOptions = options;
    this.ioredisOptions = ioredisOptions;
    this.redactedUrl = params.redactedUrl;
    this.wallClock = init.wallClock ?? (() => Date.now() / 1000);
    this.keys = new RedisKeys({ ...options, db: ioredisOptions.db, literalFanoutDb: params.transport === 'sentinel' });
    this.switchWatch =
      ioredisOptions.sentinels === undefined ? undefined : new SwitchMasterWatch({ sentinel: ioredisOptions, clients: () => this.clients() });
    this.slotWatch = params.transport === CLUSTER_TRANSPORT ? new ClusterSlotWatch(() => this.clients()) : undefined;
    this.commandHealth = new PingCheck({
      client: () => this.commandClient,
      established: () => this.established,
      timeoutMs: this.healthTimeoutMs,
      onDead: (error) => {
        this.lastRedisError = error;
      },
    });
  }

  private adminTools: VirtualAdmin | undefined;

  /** inspect / restore / dead letters on this db (connects on first use). */
  get admin(): VirtualAdmin {
    this.adminTools ??= new VirtualAdmin(redisAdminStorage({
      client: async () => {
        await this.connect();
        return this.client;
      },
      keys: this.keys,
      options: this.redisOptions,
      wallClock: this.wallClock,
      redactedUrl: this.redactedUrl,
    }));
    return this.adminTools;
  }

  /** The shared command connection (after connect). */
  get client(): Redis {
    if (!this.commandClient) throw new OperationalError(`redis transport for ${this.redactedUrl} is not connected; call connect() first`);
    return this.commandClient;
  }

  private newClient(role: ConnectionRole): Redis {
    const client = createClient(role, {
      base: this.ioredisOptions,
      // Reconnect attempts each raise an ioredis 'error'; the lost/reconnected events below
      // carry the news, so these are only kept as the last error.
      onError: (error) => {
        this.lastRedisError = safeRedisCause(error);
      },
    });
    this.slotWatch?.watch(client);
    if (role === 'command' || role === 'confirm') {
      client.on('close', () => this.linkDown(role, this.lastRedisError ?? new Error('connection closed')));
      client.on('ready', () => this.linkUp(role));
    }
    return client;
  }

  /** Every connection of this transport: the command connection and each poller's two. */
  private *clients(): Iterable<Redis> {
    if (this.commandClient) yield this.commandClient;
    const confirmClient = this.confirmConnection?.existingClient;
    if (confirmClient) yield confirmClient;
    for (const poller of this.pollers.values()) yield* [poller.pollClient, poller.subClient];
  }

  /** Established and not closing: links that drop now are being re-established. */
  private get established(): boolean {
    return this.state === 'connected' || this.state === 'reconnecting';
  }

  /** A link dropped: the first one makes the transport 'reconnecting' and reports connectionLost. */
  private linkDown(link: object | string, error: Error): void {
    if (!this.established || this.lostLinks.has(link)) return;
    this.lostLinks.add(link);
    if (this.lostLinks.size > 1) return;
    this.setState('reconnecting');
    this.events.emit('connectionLost', wrapRedisError(error, this.redactedUrl, 'connection'));
  }

  /** A link is back: the last one makes the transport 'connected' again and reports reconnected. */
  private linkUp(link: object | string): void {
    if (!this.lostLinks.delete(link) || this.lostLinks.size > 0) return;
    if (this.state === 'reconnecting') this.setState('connected');
    this.events.emit('reconnected');
  }

  /** Health-check deadline: socketTimeout, else a fixed bound (a PONG on loopback takes microseconds). */
  private get healthTimeoutMs(): number {
    return healthTimeoutMs(this.redisOptions.socketTimeout);
  }

  /** PINGs the transport's own connections (see PingCheck). */
  private checkSharedHealth(): void {
    this.commandHealth.check();
    this.confirmConnection?.checkHealth();
  }

  /** The last ioredis error, without its command arguments (kept for diagnostics; events carry wrapped ones). */
  lastRedisError: Error | undefined;

  protected async establish(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    // What ioredis reported while this attempt ran, not what an earlier one left.
    this.lastRedisError = undefined;
    const client = this.commandClient ?? this.newClient('command');
    this.commandClient = client;
    try {
      const abort = new Promise<never>((_, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      await Promise.race([connectClient(client).then(() => client.ping()), abort]);
      this.switchWatch?.start();
    } catch (error) {
      this.commandClient = undefined;
      client.disconnect(false);
      // ioredis rejects with a bare "Connection is closed." when the socket fails; why it failed
      // (a refused certificate, a reset) came as an 'error' event before: say both.
      const message = error instanceof Error ? error.message : String(error);
      // Set by the client's error listener meanwhile (control flow cannot see that).
      const underlying = this.lastRedisError as Error | undefined;
      const why = underlying && underlying.message !== message ? `${message} (${underlying.message})` : message;
      throw new OperationalError(`Cannot connect to redis at ${this.redactedUrl}: ${why}`, { cause: underlying ?? safeRedisCause(error) });
    }
  }

  protected async teardown(): Promise<void> {
    const closing = [...this.pollers.values()].map((p) => this.closePoller(p));
    await Promise.allSettled(closing);
    this.pollers.clear();
    await this.confirmConnection?.close();
    if (this.commandClient) await closeClient(this.commandClient);
    this.commandClient = undefined;
    await this.switchWatch?.close();
  }

  /**
   * The longest confirm timeout (seconds) a WAIT can have: ioredis fails any command on the
   * confirm connection that outlives its commandTimeout, the WAIT and whatever waits behind it.
   */
  private get maxConfirmTimeout(): number {
    return confirmTimeoutLimit(this.ioredisOptions.commandTimeout);
  }

  private confirmConnection: ConfirmConnection | undefined;

  /** The writes and WAITs of confirmed publishes, shared by every channel (its client opens on first use). */
  private get confirming(): ConfirmConnection {
    this.confirmConnection ??= new ConfirmConnection({
      newClient: () => this.newClient('confirm'),
      keys: this.keys,
      redactedUrl: this.redactedUrl,
      maxTimeout: this.maxConfirmTimeout,
      healthTimeoutMs: this.healthTimeoutMs,
      established: () => this.established,
      onDead: (error) => {
        this.lastRedisError = error;
      },
      reportError: (error) => this.reportError(error),
    });
    return this.confirmConnection;
  }

  protected openChannel(channelId: number): VirtualChannel {
    const storage = new RedisStorage({
      client: guardClient(this.client, this.redactedUrl),
      replication: this.confirming,
      keys: this.keys,
      redactedUrl: this.redactedUrl,
      options: this.redisOptions,
      wallClock: this.wallClock,
      reportDeadLettered: (info) => this.reportDeadLettered(info),
      // An ack confirmed outside a hub callback: a runUntil waiting on its effect re-checks.
      acksSettled: () => this.hub?.wake?.(),
    });
    const channel = new VirtualChannel(this, channelId, storage);
    this.storages.set(channel, storage);
    return channel;
  }

  /** A consuming channel gets its poll and subscriber connections; they re-read its queues. @internal */
  override consumersChanged(channel: VirtualChannel): void {
    if (channel.hasConsumers) this.ensurePoller(channel).nudge();
  }

  /** Closes the channel's poll and subscriber connections, once its messages are restored. @internal */
  override async releaseChannel(channel: VirtualChannel): Promise<void> {
    this.storages.delete(channel);
    await this.releasePoller(channel);
  }

  protected override createPoller(hub: EventLoopHub): Poller {
    return new MultiChannelPoller(
      {
        restoreIntervalMs: (this.redisOptions.unackedRestoreInterval > 0 ? this.redisOptions.unackedRestoreInterval : 10) * 1000,
        restoreThrottle: this.redisOptions.unackedRestoreThrottle,
        healthCheckIntervalMs: this.redisOptions.healthCheckInterval * 1000,
        checkSharedHealth: () => this.checkSharedHealth(),
        channelPollers: () => this.pollers.values(),
        pollerOf: (channel) => this.pollers.get(channel),
        queueFromKey: (key) => this.keys.queueFromKey(key),
        openChannels: () => this.openChannels(),
        reportError: (error) => this.reportError(error),
        delayedStorage: () => this.openChannels()[0]?.delayedDelivery,
        touchConsumedQueues: () => {
          for (const channel of this.openChannels()) channel.touchConsumedQueues().catch((error: unknown) => this.reportError(error));
        },
      },
      hub,
    );
  }

  /** The poll + subscriber connections of a consuming channel, created on its first consumer. */
  private ensurePoller(channel: VirtualChannel): ChannelPoller {
    const existing = this.pollers.get(channel);
    if (existing) return existing;
    const storage = this.storages.get(channel);
    if (!storage) throw new OperationalError(`Channel ${channel.channelId} is not a channel of this redis transport`);
    const bridge = new ConsumeBridge({
      channel,
      storage,
      keys: this.keys,
      brokerState: this.brokerState,
      reportDeadLettered: (info) => this.reportDeadLettered(info),
      reportError: (error) => this.reportError(error),
    });
    const pollClient = this.newClient('poll');
    const subClient = this.newClient('subscriber');
    /** Fanout deliveries of this channel whose unacked record is still being written. */
    let fanoutRecording = 0;
    const poller: ChannelPoller = new ChannelPoller(
      {
        // Fanout queues are popped too (Kombu leaves them out): a requeued or restored fanout
        // message lands in the queue's list (docs/wire-format.md#fanout), and this way it is
        // redelivered.
        pollQueues: () => channel.consumedQueues,
        // Fanout deliveries still being recorded hold their slots too (see onFanout).
        pollCapacity: () => (channel.state === 'open' && channel.hasConsumers ? channel.qos.capacity() - fanoutRecording : 0),
        prefetchCount: () => channel.qos.prefetchCount,
        recordOnPop: () =>
          this.redisOptions.ackEmulation && channel.consumedQueues.some((q) => channel.noAckFor(q) === false),
        expiredDeadLetterFlags: (pairs) => expiredDeadLetterFlags(pairs, (key) => channel.deadLetters(storage.queueOfKey(key))),
        fanoutPatterns: () => [...bridge.fanoutPatternMap().keys()],
        fanoutRevision: () => this.brokerState.revision,
        onPopped: (entries, recorded) => bridge.deliverPopped(entries, recorded),
        giveBack: (entries, recorded) => bridge.giveBackPopped(entries, recorded),
        onFanoutOverflow: (pattern, _name, payload) => {
          for (const queue of bridge.fanoutPatternMap().get(pattern) ?? []) {
            bridge
              .spillFanout(queue, payload)
              .catch((error: unknown) => this.reportError(wrapRedisError(error, this.redactedUrl, 'fanout spill')))
              .finally(() => this.poller?.wake());
          }
        },
        onFanout: (pattern, _name, payload) => {
          if (channel.state !== 'open') return true;
          const queues = bridge.fanoutPatternMap().get(pattern) ?? [];
          // The delivery counts against the prefetch only once recorded (async): until then the
          // slot is held here, or the messages of one drain would all pass this check.
          const capacity = channel.qos.capacity() - fanoutRecording;
          if (capacity <= 0 || (capacity < queues.length && channel.qos.size + fanoutRecording > 0)) return false;
          for (const queue of queues) {
            fanoutRecording++;
            // Recording the delivery is async: wake the hub afterwards so loops waiting on it re-check.
            channel
              .handleIncoming(queue, payload, { recorded: false })
              .catch((error: unknown) => this.reportError(error))
              .finally(() => {
                fanoutRecording--;
                this.poller?.wake();
              });
          }
          return true;
        },
        onError: (error) => this.reportError(wrapRedisError(error, this.redactedUrl, 'poll')),
        onLinkLost: (link, error) => this.linkDown(linkId(poller, link), error),
        onLinkRestored: (link) => this.linkUp(linkId(poller, link)),
        // Best effort: a wait that is not cut short ends by itself within brpopTimeout.
        unblockPoll: (clientId) => void this.commandClient?.call('CLIENT', 'UNBLOCK', clientId).catch(() => undefined),
      },
      pollClient,
      subClient,
      {
        keys: this.keys,
        brpopTimeoutMs: this.redisOptions.brpopTimeout * 1000,
        commandTimeoutMs: this.redisOptions.socketTimeout === undefined ? undefined : this.redisOptions.socketTimeout * 1000,
        healthTimeoutMs: this.healthTimeoutMs,
        batchSize: this.redisOptions.batchSize ?? 100,
        blockingWait: this.redisOptions.blockingWait,
        clientTracking: this.redisOptions.clientTracking,
        serversMayDiffer: locatesMaster(this.ioredisOptions),
        wallClock: this.wallClock,
      },
    );
    this.pollers.set(channel, poller);
    if (storage.unacked instanceof RedisUnackedStore) storage.unacked.shareAckWrites(pollAckLane(poller, this.redactedUrl));
    for (const client of [pollClient, subClient]) {
      connectClient(client).catch((error: unknown) => this.reportError(wrapRedisError(error, this.redactedUrl, 'connect')));
    }
    if (this.poller instanceof MultiChannelPoller) this.poller.adopt(poller);
    return poller;
  }

  /**
   * Whether the channel's poller is woken by client-tracking invalidations ('on') or polls on
   * the brpopTimeout timer only ('unsupported'); undefined for a channel that never consumed.
   */
  wakeMode(channel: VirtualChannel): 'unknown' | 'on' | 'unsupported' | undefined {
    return this.pollers.get(channel)?.trackingState;
  }

  private async releasePoller(channel: VirtualChannel): Promise<void> {
    const poller = this.pollers.get(channel);
    if (!poller) return;
    this.pollers.delete(channel);
    const storage = this.storages.get(channel);
    if (storage?.unacked instanceof RedisUnackedStore) storage.unacked.shareAckWrites(undefined);
    await this.closePoller(poller);
  }

  private async closePoller(poller: ChannelPoller): Promise<void> {
    poller.close();
    // A closed poller's links are not lost any more; only ones still in use can be "back".
    for (const link of ['poll', 'subscriber'] as const) this.lostLinks.delete(linkId(poller, link));
    if (this.lostLinks.size === 0 && this.state === 'reconnecting') this.setState('connected');
    await Promise.allSettled([closeClient(poller.pollClient), closeClient(poller.subClient)]);
  }

  override isConnectionError(error: unknown): boolean {
    return isRedisConnectionError(error);
  }

  override isChannelError(error: unknown): boolean {
    return isRedisChannelError(error);
  }
}
