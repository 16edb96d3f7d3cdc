/**
 * The subscribe side of fanout in the sharded cluster layout: `SSUBSCRIBE` to each fanout
 * exchange's shard channel on the master of the channel's slot, one subscriber connection per
 * master in use (sharded pub/sub delivers a channel's messages only on the node serving its slot,
 * and has no pattern form).
 *
 * When a resharding or a failover moves a channel's slot, the node ends the subscription itself
 * with a `sunsubscribe` message nobody asked for. ioredis 5.11 does not expect one: it emits an
 * `error` ("Command queue state error ... Last reply: sunsubscribe,<channel>,<count>") and drops
 * the channel from its subscription set. That error is this module's signal: the slot map is
 * reloaded and the channel subscribed again on its new master.
 */
import type { Redis } from 'ioredis';
import type { ClusterNodeAddress } from './cluster-connector.js';
import type { ClusterNodePool } from './cluster-node-pool.js';
import { keySlot } from './cluster-slot.js';

/** The channel a server-sent `sunsubscribe` named, from ioredis's report of it. */
export function endedShardChannel(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return /Last reply: sunsubscribe,(.*),\d+$/s.exec(error.message)?.[1];
}

export interface ShardedFanoutOptions {
  pool: ClusterNodePool;
  /** Opens a subscriber connection to one master, with the transport's options. */
  connect(node: ClusterNodeAddress): Redis;
  onMessage(channel: string, message: string): void;
  /** A channel that could not be subscribed again after a move (the next move or reconnect tries again). */
  onError?(error: unknown): void;
}

const nodeKey = (node: ClusterNodeAddress): string => `${node.host}:${node.port}`;
/** After a node ended a subscription, how often and how far apart the placement is checked again. */
const REPLACE_CHECKS = 5;
const REPLACE_CHECK_MS = 500;

export class ShardedFanoutSubscriptions {
  private readonly channels = new Set<string>();
  private readonly subscribers = new Map<string, { node: ClusterNodeAddress; client: Redis }>();
  /** The subscriber each channel is subscribed on now. */
  private readonly placed = new Map<string, Redis>();
  private closed = false;
  private readonly removeReloadListener: () => void;

  constructor(private readonly options: ShardedFanoutOptions) {
    this.removeReloadListener = options.pool.onReload(() => this.dropStaleSubscribers());
  }

  /** Subscribes `channel` on the master of its slot; resolves once the node confirmed it. */
  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
    await this.place(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    const subscriber = this.placed.get(channel);
    this.placed.delete(channel);
    if (subscriber) await subscriber.sunsubscribe(channel);
  }

  /** Whether `channel` is subscribed (or being subscribed) on a subscriber now. */
  isPlaced(channel: string): boolean {
    return this.placed.has(channel);
  }

  /** Channels wanted but on no subscriber now (a subscribe that failed, a reconnect not placed again yet). */
  unplacedCount(): number {
    let count = 0;
    for (const channel of this.channels) if (!this.placed.has(channel)) count++;
    return count;
  }

  /** The channels subscribed and the port of the master each is on now. */
  placements(): Map<string, number | undefined> {
    return new Map([...this.placed].map(([channel, subscriber]) => [channel, subscriber.options.port]));
  }

  close(): void {
    this.closed = true;
    this.removeReloadListener();
    for (const { client } of this.subscribers.values()) client.disconnect();
    this.subscribers.clear();
    this.placed.clear();
  }

  private async place(channel: string): Promise<void> {
    await this.options.pool.forSlot(keySlot(channel));
    const master = this.options.pool.masterOf(keySlot(channel));
    if (master === undefined || this.closed || !this.channels.has(channel)) return;
    const subscriber = this.subscriberOf(master);
    if (this.placed.get(channel) === subscriber) return;
    this.placed.set(channel, subscriber);
    try {
      await subscriber.ssubscribe(channel);
    } catch (error) {
      this.placed.delete(channel);
      // MOVED: the map was behind; follow it and try the named node.
      if (this.options.pool.followRedirect(error)) return this.place(channel);
      throw error;
    }
  }

  private subscriberOf(master: ClusterNodeAddress): Redis {
    const key = nodeKey(master);
    const existing = this.subscribers.get(key)?.client;
    if (existing) return existing;
    const created = this.options.connect(master);
    created.on('smessage', (channel: string, message: string) => this.options.onMessage(channel, message));
    // Subscribers do not resubscribe by themselves (autoResubscribe is off for the role, see
    // connections.ts): after each reconnect, the channels this one carried are placed again, on
    // the slot's master now (the node may have lost its slots while the link was down).
    let connectedBefore = false;
    created.on('ready', () => {
      if (!connectedBefore) {
        connectedBefore = true;
        return;
      }
      for (const [channel, subscriber] of [...this.placed]) {
        if (subscriber !== created) continue;
        this.placed.delete(channel);
        void this.replace(channel);
      }
    });
    created.on('error', (error: unknown) => {
      const channel = endedShardChannel(error);
      if (channel === undefined || this.placed.get(channel) !== created) return;
      this.placed.delete(channel);
      void this.replace(channel);
    });
    this.subscribers.set(key, { node: master, client: created });
    return created;
  }

  /**
   * After a reload of the slot map: the subscriber of a node that serves no slot any more (a
   * master demoted by a failover, a removed node) is closed, so its reconnects (each reloading
   * the map) stop, and its channels are placed on their slot's master now.
   */
  private dropStaleSubscribers(): void {
    if (this.closed) return;
    for (const [key, { node, client }] of [...this.subscribers]) {
      if (this.options.pool.serves(node)) continue;
      this.subscribers.delete(key);
      client.disconnect();
      for (const [channel, subscriber] of [...this.placed]) {
        if (subscriber !== client) continue;
        this.placed.delete(channel);
        this.place(channel).catch((error: unknown) => this.options.onError?.(error));
      }
    }
  }

  /**
   * Subscribes a channel whose node ended its subscription again, on the slot's master now. The
   * node ends it while the slot is still moving, so the map read at once may still name it (and
   * it may still accept the subscription): the placement is checked against a freshly read map a
   * few times more, and moved when the map names another master.
   */
  private async replace(channel: string): Promise<void> {
    try {
      await this.options.pool.refresh();
      await this.place(channel);
      for (let check = 0; check < REPLACE_CHECKS && !this.closed && this.channels.has(channel); check++) {
        await new Promise((resolve) => setTimeout(resolve, REPLACE_CHECK_MS).unref());
        await this.options.pool.refresh();
        const subscriber = this.placed.get(channel);
        const master = this.options.pool.masterOf(keySlot(channel));
        if (subscriber === undefined || master === undefined || this.subscribers.get(nodeKey(master))?.client === subscriber) continue;
        this.placed.delete(channel);
        await subscriber.sunsubscribe(channel).catch(() => undefined);
        await this.place(channel);
      }
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
