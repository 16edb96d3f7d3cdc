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

export class ShardedFanoutBridge {
  private readonly subscriptions: ShardedFanoutSubscriptions;
  /** Shard channel -> the consumed queues bound to its exchange. */
  private routes = new Map<string, Set<string>>();
  private syncing: Promise<void> = Promise.resolve();

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
    this.syncing = this.syncing.then(() => this.apply()).catch((error: unknown) => this.host.reportError(error));
    return this.syncing;
  }

  close(): void {
    this.subscriptions.close();
    this.routes.clear();
  }

  private async apply(): Promise<void> {
    const { brokerState, keys } = this.host;
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
    const previous = this.routes;
    this.routes = wanted;
    for (const name of previous.keys()) if (!wanted.has(name)) await this.subscriptions.unsubscribe(name);
    for (const name of wanted.keys()) {
      if (previous.has(name)) continue;
      try {
        await this.subscriptions.subscribe(name);
      } catch (error) {
        // Not subscribed: the next sync (a consumer change) tries again.
        this.routes.delete(name);
        throw error;
      }
    }
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
