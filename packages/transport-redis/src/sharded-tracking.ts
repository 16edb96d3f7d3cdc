/**
 * The wake-up of the sharded layout's consumers: CLIENT TRACKING on every master that serves a
 * consumed queue (master-tracking.ts, broadcasting mode with one prefix per queue), so a message
 * another process publishes wakes the poller at once instead of at the next `brpopTimeout` tick.
 *
 * Which masters: each consumed queue's slot is looked up in the pool's map; the tracking of a
 * master is opened with its first consumed queue, its prefixes re-applied when the queues on it
 * change, and dropped with its last (or once its node serves no slot: a failover, a resharding).
 * Every reload of the map (a MOVED, a reconnect, a failover) places the queues again, so the
 * tracking follows slots to their new master.
 *
 * `covers()` tells the poller when its timer may skip a poll: only while every consumed queue's
 * master (as last learned) has that queue's prefix armed. A refusal, a reconnect or a slot not
 * placed yet leaves a queue uncovered, and the `brpopTimeout` timer polls as without tracking.
 */
import type { Redis } from 'ioredis';
import type { ClusterNodeAddress } from './cluster-connector.js';
import type { ClusterNodePool } from './cluster-node-pool.js';
import type { RedisKeys } from './keys.js';
import { MasterTracking } from './master-tracking.js';

export interface ShardedTrackingHost {
  readonly pool: ClusterNodePool;
  readonly keys: RedisKeys;
  /** Opens a subscriber connection to one master (for the invalidations). */
  connect(node: ClusterNodeAddress): Redis;
  /** The queues consumed by this transport's channels now. */
  consumedQueues(): readonly string[];
  /** A consumed queue may have a message: poll. */
  wake(): void;
  reportError(error: unknown): void;
}

const nodeKey = (node: ClusterNodeAddress): string => `${node.host}:${node.port}`;

export class ShardedTracking {
  private readonly masters = new Map<string, MasterTracking>();
  /** The list keys (every priority step) of the consumed queues: a write to one of them wakes. */
  private listKeys = new Set<string>();
  private syncing: Promise<void> = Promise.resolve();
  /** A sync is queued and not started: later calls join it (it reads the consumed queues when it starts). */
  private syncQueued = false;
  private closed = false;
  private readonly removeReloadListener: () => void;

  constructor(private readonly host: ShardedTrackingHost) {
    this.removeReloadListener = host.pool.onReload(() => void this.sync());
  }

  /** Places the consumed queues on their masters' tracking now (serialised; failures reported). */
  sync(): Promise<void> {
    if (this.syncQueued) return this.syncing;
    this.syncQueued = true;
    this.syncing = this.syncing
      .then(() => {
        this.syncQueued = false;
        return this.apply();
      })
      .catch((error: unknown) => this.host.reportError(error));
    return this.syncing;
  }

  /** Whether every consumed queue is armed on its master now (the poll timer may then rest). */
  covers(): boolean {
    const { pool } = this.host;
    for (const queue of this.host.consumedQueues()) {
      const slot = this.slotOf(queue);
      const master = slot === undefined ? undefined : pool.masterOf(slot);
      if (master === undefined || this.masters.get(nodeKey(master))?.covers(queue) !== true) return false;
    }
    return true;
  }

  /** The queue's slot; undefined for a name the layout refuses (a brace), whose polls report that. */
  private slotOf(queue: string): number | undefined {
    try {
      return this.host.keys.queueSlot(queue);
    } catch {
      return undefined;
    }
  }

  /** The tracking state of each master tracked now, by `host:port` (diagnostics, tests). */
  states(): Map<string, string> {
    return new Map([...this.masters].map(([key, master]) => [key, master.state]));
  }

  close(): void {
    this.closed = true;
    this.removeReloadListener();
    for (const master of this.masters.values()) master.dispose();
    this.masters.clear();
  }

  private async apply(): Promise<void> {
    if (this.closed) return;
    const { pool, keys } = this.host;
    const queues = [...new Set(this.host.consumedQueues())].filter((queue) => this.slotOf(queue) !== undefined);
    this.listKeys = new Set(queues.flatMap((queue) => keys.queueKeys(queue)));
    // Master -> its connection and the prefixes of its consumed queues.
    const placed = new Map<string, { node: ClusterNodeAddress; client: Redis; prefixes: Map<string, string> }>();
    for (const queue of queues) {
      const slot = this.slotOf(queue) as number;
      const client = await pool.forSlot(slot);
      const node = pool.masterOf(slot);
      if (node === undefined) continue;
      const entry = placed.get(nodeKey(node)) ?? { node, client, prefixes: new Map<string, string>() };
      entry.prefixes.set(queue, keys.queueKey(queue));
      placed.set(nodeKey(node), entry);
    }
    if (this.closed) return;
    for (const [key, master] of [...this.masters]) {
      // Dropped with its last queue, or when the pool's connection to it was replaced (the node
      // left the map and came back: the old connection is closed, its listeners with it).
      if (placed.get(key)?.client === master.tracked) continue;
      this.masters.delete(key);
      master.dispose();
    }
    for (const [key, { node, client, prefixes }] of placed) {
      let master = this.masters.get(key);
      if (master === undefined) {
        master = new MasterTracking(node, client, this.host.connect(node), {
          onInvalidation: (written) => this.onInvalidation(written),
          // Writes before the prefixes were in force were not announced: poll every queue once.
          onArmed: () => this.host.wake(),
          reportError: (error) => this.host.reportError(error),
        });
        this.masters.set(key, master);
      }
      master.want(prefixes);
    }
  }

  /** Wakes the poller for a write to a consumed queue's list (not for an ack, which writes its unacked keys). */
  private onInvalidation(written: readonly string[] | null): void {
    if (written === null || written.some((key) => this.listKeys.has(key))) this.host.wake();
  }
}
