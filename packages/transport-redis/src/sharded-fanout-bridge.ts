/**
 * Fanout for the consuming channels of a sharded-layout transport: one `SSUBSCRIBE` per fanout
 * exchange that a consumed queue of this process is bound to (ShardedFanoutSubscriptions, on the
 * master of the shard channel's slot), and each message that arrives stored at the back of every
 * such queue on its own master, where the channel's poller pops and records it like any message.
 *
 * Why store instead of delivering from the subscription: in this layout a delivery is recorded
 * in its queue's own unacked keys by the pop script; a message stored first is recorded, acked
 * and restored exactly as a direct one (and never exceeds the prefetch), at the cost of one push
 * and one pop per fanout delivery. A queue consumed by several channels of one process gets one copy.
 */
import type { BrokerState, VirtualChannel } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { ClusterNodeAddress } from './cluster-connector.js';
import type { ClusterNodePool } from './cluster-node-pool.js';
import type { RedisKeys } from './keys.js';
import { ShardedFanoutSubscriptions } from './sharded-fanout.js';

export interface ShardedFanoutBridgeHost {
  readonly pool: ClusterNodePool;
  readonly keys: RedisKeys;
  readonly brokerState: BrokerState;
  /** Opens a subscriber connection to one master. */
  connect(node: ClusterNodeAddress): Redis;
  openChannels(): readonly VirtualChannel[];
  /** Stores a fanout message at the back of `queue` (its master), at the envelope's priority. */
  store(queue: string, payload: string, priority: number): Promise<void>;
  /** A message was stored: the poller may take it now. */
  wake(): void;
  reportError(error: unknown): void;
}

/** The envelope's `properties.priority`, 0 when it has none or is not JSON (the pop dead-letters that). */
function priorityOf(payload: string): number {
  try {
    const priority = (JSON.parse(payload) as { properties?: { priority?: unknown } }).properties?.priority;
    return typeof priority === 'number' ? priority : 0;
  } catch {
    return 0;
  }
}

/** How long after a failed subscribe or unsubscribe the next tick tries again. */
const RETRY_AFTER_MS = 250;

export class ShardedFanoutBridge {
  private readonly subscriptions: ShardedFanoutSubscriptions;
  /** Shard channel -> the consumed queues bound to its exchange; only channels the node confirmed. */
  private readonly routes = new Map<string, Set<string>>();
  private syncing: Promise<void> = Promise.resolve();
  private running = false;
  /** The bindings revision the last sync applied (undefined: none ran, or a consumer changed). */
  private syncedRevision: number | undefined;
  /** A subscribe failed (a reconnect, a move): the next tick after this instant tries again. */
  private retryAtMs: number | undefined;

  constructor(private readonly host: ShardedFanoutBridgeHost) {
    this.subscriptions = new ShardedFanoutSubscriptions({
      pool: host.pool,
      connect: (node) => host.connect(node),
      onMessage: (channel, payload) => this.onMessage(channel, payload),
      onError: (error) => host.reportError(error),
    });
  }

  /** Subscribes the exchanges consumed queues are bound to now and drops the others (serialised). */
  sync(): Promise<void> {
    this.syncedRevision = undefined;
    return this.enqueue();
  }

  /**
   * Called on every poller tick: syncs when a binding or exchange changed since the last sync
   * (as redis:// does against the same revision), when a subscription failed, or when a
   * subscriber lost a channel (a reconnect it could not place again). Cheap when nothing changed.
   */
  maybeSync(): void {
    if (this.running) return;
    if (this.syncedRevision !== this.host.brokerState.revision) {
      void this.enqueue();
      return;
    }
    const lost = this.retryAtMs !== undefined || this.subscriptions.unplacedCount() > 0;
    if (lost && Date.now() >= (this.retryAtMs ?? 0)) void this.enqueue();
  }

  close(): void {
    this.subscriptions.close();
    this.routes.clear();
  }

  private enqueue(): Promise<void> {
    this.running = true;
    this.syncing = this.syncing
      .then(() => this.apply())
      .catch((error: unknown) => this.host.reportError(error))
      .finally(() => (this.running = false));
    return this.syncing;
  }

  private async apply(): Promise<void> {
    const { brokerState, keys } = this.host;
    const revision = brokerState.revision;
    this.retryAtMs = undefined;
    const wanted = new Map<string, Set<string>>();
    for (const channel of this.host.openChannels()) {
      if (!channel.hasConsumers) continue;
      for (const queue of channel.consumedQueues) {
        for (const binding of brokerState.queueBindings(queue)) {
          if (brokerState.typeOf(binding.exchange) !== 'fanout') continue;
          const name = keys.fanoutChannel(binding.exchange, '');
          const queues = wanted.get(name) ?? new Set<string>();
          queues.add(queue);
          wanted.set(name, queues);
        }
      }
    }
    let failed = false;
    // Routes go first: from here on nothing is copied into a queue no longer bound, even when
    // the node does not confirm the unsubscribe (the channel then only reaches a route-less bridge).
    for (const name of [...this.routes.keys()]) {
      if (wanted.has(name)) continue;
      this.routes.delete(name);
      try {
        await this.subscriptions.unsubscribe(name);
      } catch (error) {
        this.host.reportError(error);
      }
    }
    // One failure does not hold up the other exchanges; a channel gets its route only once the
    // node confirmed it, so the next sync tries the ones that failed again.
    for (const [name, queues] of wanted) {
      if (this.routes.has(name) && this.subscriptions.isPlaced(name)) {
        this.routes.set(name, queues);
        continue;
      }
      try {
        await this.subscriptions.subscribe(name);
        this.routes.set(name, queues);
      } catch (error) {
        failed = true;
        this.routes.delete(name);
        this.host.reportError(error);
      }
    }
    this.syncedRevision = revision;
    if (failed) this.retryAtMs = Date.now() + RETRY_AFTER_MS;
  }

  private onMessage(channel: string, payload: string): void {
    for (const queue of this.routes.get(channel) ?? []) {
      this.host
        .store(queue, payload, priorityOf(payload))
        .then(() => this.host.wake())
        .catch((error: unknown) => this.host.reportError(error));
    }
  }
}
