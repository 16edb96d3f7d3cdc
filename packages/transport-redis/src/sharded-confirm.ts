/**
 * `ShardedConfirm`: confirmed publishes in the sharded cluster layout (docs/confirmed-publishes.md).
 * A publish there writes to the master of each queue it reaches, so its confirmation is a `WAIT`
 * on every master it wrote to, each on the connection that carried its write (`WAIT` counts the
 * writes of the connection it is sent on), and it is confirmed by `N` replicas only when every
 * one of those masters reports `N`: the count it resolves with is the smallest of them.
 *
 * As on redis:// the writes and WAITs of confirmed publishes have connections of their own, one
 * per master (role `confirm`, opened by the first confirmed publish to that master), shared by
 * the transport's channels: a WAIT holds up its connection, and on the command connection it
 * would hold up every pop, ack and publish of that master. They follow the command pool's slot
 * map (cluster-node-pool.ts), so a MOVED or a failover seen there moves them too; the connection
 * of a node that serves no slot any more is closed at the next reload. Per connection, WAITs are
 * shared and sent one at a time as on redis:// (ReplicaWaits): a WAIT answers for every write of
 * its connection so far, a superset of the publish's own.
 *
 * Each confirmed publish gets its own scope ({@link ShardedConfirm.forPublish}) that notes the
 * connections its pushes went through, so it waits on those masters only: a master that lacks a
 * replica does not hold up or fail a publish that never wrote there.
 */
import { OperationalError } from '@kelp/core';
import type { PublishWrites, ReplicaAcknowledgement } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { ClusterNodeAddress } from './cluster-connector.js';
import type { ClusterNodePool } from './cluster-node-pool.js';
import { closeClient } from './connections.js';
import { wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import { PingCheck } from './ping-check.js';
import type { PushBatcher } from './push-batcher.js';
import { ReplicaWaits } from './replica-waits.js';
import { ShardedPublishing, type ShardedWriteTargets } from './sharded-publishing.js';
import type { ShardedDelayed } from './sharded-delayed.js';

export interface ShardedConfirmContext {
  /** The command pool: its slot map says which master serves a slot. */
  readonly pool: ClusterNodePool;
  /** A new connection with the 'confirm' role to `node` (guarded, connecting). */
  newClient(node: ClusterNodeAddress): Redis;
  readonly keys: RedisKeys;
  /** The broker URL without its password, for error messages. */
  readonly redactedUrl: string;
  /** The longest confirm timeout (seconds) the connections' command timeout leaves room for. */
  readonly maxTimeout: number;
  /** How long a PONG may take on a working link (health checks). */
  readonly healthTimeoutMs: number;
  /** The transport's delayed delivery: a confirmed delayed publish stores through it, on the confirm connections. */
  readonly delayed: ShardedDelayed;
  /** Whether the transport is established (see PingCheck). */
  established(): boolean;
  /** A health check found a confirm connection dead (before it is replaced). */
  onDead(error: Error): void;
}

/** A confirm connection to one master and what waits on it. */
interface ConfirmLink {
  readonly node: ClusterNodeAddress;
  readonly client: Redis;
  readonly waits: ReplicaWaits;
  readonly health: PingCheck;
  /** Until when (Date.now() clock) a WAIT may hold the connection. */
  blockedUntil: number;
}

const nodeKey = (node: ClusterNodeAddress): string => `${node.host}:${node.port}`;

export class ShardedConfirm implements ReplicaAcknowledgement {
  readonly maxTimeout: number;
  /** The writes of every confirmed publish; {@link waitForReplicas} waits on every master. */
  readonly writes: PublishWrites;
  private readonly links = new Map<string, ConfirmLink>();
  /** Shared by every scope: a master's confirmed pushes of one tick go in one script call. */
  private readonly batchers = new WeakMap<Redis, PushBatcher>();
  private readonly removeReloadListener: () => void;
  private closed = false;

  constructor(private readonly ctx: ShardedConfirmContext) {
    this.maxTimeout = ctx.maxTimeout;
    this.writes = this.writesThrough({
      forSlot: async (slot) => (await this.linkForSlot(slot)).client,
      forKey: (key) => this.ctx.pool.forKey(key),
      refresh: () => this.ctx.pool.refresh(),
    });
    this.removeReloadListener = ctx.pool.onReload(() => this.prune());
  }

  /** A scope for one publish: its writes note the masters they reach, and its wait goes there. */
  forPublish(): ReplicaAcknowledgement {
    const written = new Set<ConfirmLink>();
    const writes = this.writesThrough({
      forSlot: async (slot) => {
        const link = await this.linkForSlot(slot);
        written.add(link);
        return link.client;
      },
      // Binding sets are read on the command connections: a read needs no WAIT, nor to queue behind one.
      forKey: (key) => this.ctx.pool.forKey(key),
      refresh: () => this.ctx.pool.refresh(),
    });
    return {
      maxTimeout: this.maxTimeout,
      writes,
      waitForReplicas: (replicas, timeout) => this.waitOn(written, replicas, timeout),
    };
  }

  /** Waits on every confirm connection open now (what {@link writes} may have written through). */
  waitForReplicas(replicas: number, timeout: number): Promise<number> {
    return this.waitOn(new Set(this.links.values()), replicas, timeout);
  }

  /** PINGs each confirm connection, allowing for a WAIT in flight (see PingCheck). */
  checkHealth(): void {
    for (const link of this.links.values()) link.health.check();
  }

  /** The confirm connections open now. */
  connections(): Redis[] {
    return [...this.links.values()].map((link) => link.client);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.removeReloadListener();
    const clients = this.connections();
    this.links.clear();
    await Promise.allSettled(clients.map((client) => closeClient(client)));
  }

  private writesThrough(targets: ShardedWriteTargets): PublishWrites {
    const publishing = new ShardedPublishing(targets, this.ctx.keys, this.ctx.redactedUrl, this.batchers);
    return {
      put: (queue, envelopeJson, priority) => publishing.put(queue, envelopeJson, priority),
      routing: publishing,
      fanout: publishing,
      delayed: this.ctx.delayed.through(targets.forSlot),
    };
  }

  /**
   * The smallest count of replicas that acknowledged, over `links` (each WAIT sent at once, so the
   * publish waits for the slowest, not the sum). A publish that wrote nowhere has nothing to
   * replicate: it resolves with the count asked for.
   */
  private async waitOn(links: ReadonlySet<ConfirmLink>, replicas: number, timeout: number): Promise<number> {
    if (links.size === 0) return replicas;
    const counts = await Promise.all([...links].map((link) => link.waits.waitForReplicas(replicas, timeout)));
    return Math.min(...counts);
  }

  /** The confirm connection to the master of `slot` as the command pool knows it (loaded first when needed). */
  private async linkForSlot(slot: number): Promise<ConfirmLink> {
    await this.ctx.pool.forSlot(slot);
    const master = this.ctx.pool.masterOf(slot);
    if (master === undefined) throw new OperationalError(`no cluster master serves hash slot ${slot} (CLUSTER SLOTS names none)`);
    return this.linkTo(master);
  }

  private linkTo(node: ClusterNodeAddress): ConfirmLink {
    if (this.closed) throw new OperationalError(`redis transport for ${this.ctx.redactedUrl} is closed; no confirmed publish can be sent`);
    const key = nodeKey(node);
    const known = this.links.get(key);
    if (known) return known;
    const client = this.ctx.newClient(node);
    const link: ConfirmLink = {
      node,
      client,
      blockedUntil: 0,
      waits: new ReplicaWaits({
        client: () => {
          if (this.links.get(key) !== link) throw new OperationalError(`the redis confirm connection to ${key} was closed (its node serves no slot any more, or the transport closed)`);
          return client;
        },
        maxTimeout: this.maxTimeout,
        wrapError: (error) => wrapRedisError(error, this.ctx.redactedUrl, 'wait'),
        blockedUntil: (untilMs) => {
          link.blockedUntil = Math.max(link.blockedUntil, untilMs);
        },
      }),
      health: new PingCheck({
        client: () => (this.links.get(key) === link ? client : undefined),
        established: () => this.ctx.established(),
        timeoutMs: this.ctx.healthTimeoutMs,
        // A PING queued behind a WAIT is answered when the WAIT ends: that is not a dead link.
        blockedForMs: () => link.blockedUntil - Date.now(),
        onDead: (error) => this.ctx.onDead(error),
      }),
    };
    this.links.set(key, link);
    return link;
  }

  /** Closes the confirm connections of nodes that serve no slot any more (a failed-over master). */
  private prune(): void {
    for (const [key, link] of this.links) {
      if (this.ctx.pool.serves(link.node)) continue;
      this.links.delete(key);
      link.client.disconnect();
    }
  }
}
