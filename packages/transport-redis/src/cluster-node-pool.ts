/**
 * The command connections of the sharded cluster layout: one plain connection per master that
 * serves a slot kelp uses. In that layout each queue's keys share the queue's hash tag
 * (keys.ts), so a queue's pop-and-record, acks and restores are scripts on one node, and
 * different queues are on different masters: a command goes to the connection of the master of
 * its queue's slot.
 *
 * The slot map comes from `CLUSTER SLOTS` (the seeds first, then the nodes an earlier answer
 * named) and is followed on `MOVED`: {@link ClusterNodePool.followRedirect} points the slot at
 * the node the reply names at once and reloads the whole map in the background (a resharding
 * or a failover moves whole ranges). {@link ClusterNodePool.onSlot} sends a command that met
 * `MOVED` once more to the new master: `MOVED` means it did not run, so a pop or ack is not lost
 * to a resharding; a lost reply is never resent (the command may have run). A connection whose node no longer serves any slot is closed at the next
 * reload.
 *
 * Why not ioredis's `Cluster`: kelp's pollers need a blocking connection and client tracking on
 * a known node, grouped with that node's queues; one plain connection per node, found the same
 * way, keeps the command and poll sides on the same map.
 */
import { OperationalError } from '@kelp/core';
import type { Redis } from 'ioredis';
import { queryClusterSlots, type ClusterNodeAddress, type LookupCredentials } from './cluster-connector.js';
import { CLUSTER_SLOTS, keySlot } from './cluster-slot.js';
import { replyCode } from './errors.js';

/** One range of a `CLUSTER SLOTS` reply and its master. */
export interface SlotRangeOwner {
  start: number;
  end: number;
  master: ClusterNodeAddress;
}

/**
 * The ranges of a `CLUSTER SLOTS` reply whose master can be dialled, and every node it names. An
 * empty host means "the host you asked" (a node that was never told its own address, such as
 * the only node of a cluster), so it takes `asked`'s host; `?` is a node nobody can name.
 */
export function slotOwners(reply: unknown, asked?: ClusterNodeAddress): { ranges: SlotRangeOwner[]; nodes: ClusterNodeAddress[] } {
  const ranges: SlotRangeOwner[] = [];
  const nodes: ClusterNodeAddress[] = [];
  for (const range of Array.isArray(reply) ? (reply as unknown[][]) : []) {
    const [start, end, ...members] = range;
    const addresses = (members as unknown[][]).map((member) => {
      const host = String(member[0] ?? '');
      return { host: host === '' && asked ? asked.host : host, port: Number(member[1]) };
    });
    const dialable = (node: ClusterNodeAddress) => node.host !== '' && node.host !== '?' && node.port > 0;
    nodes.push(...addresses.filter(dialable));
    // The first member is the master; a range whose master cannot be dialled is left unserved.
    const master = addresses[0];
    if (master && dialable(master)) ranges.push({ start: Number(start), end: Number(end), master });
  }
  return { ranges, nodes };
}

/** `MOVED <slot> <host>:<port>`: the slot and the node that serves it now; undefined for any other error. */
export function movedTarget(error: unknown): { slot: number; node: ClusterNodeAddress } | undefined {
  if (replyCode(error) !== 'MOVED') return undefined;
  const match = /^MOVED (\d+) (.*):(\d+)\s*$/.exec((error as Error).message);
  if (!match) return undefined;
  return { slot: Number(match[1]), node: { host: match[2] as string, port: Number(match[3]) } };
}

export interface ClusterNodePoolOptions {
  /** The nodes of the URL, asked first. */
  seeds: readonly ClusterNodeAddress[];
  /** The transport's user, password and TLS, for the lookups. */
  credentials: LookupCredentials;
  /** How long one node may take to connect and answer `CLUSTER SLOTS` before the next is asked. */
  queryTimeoutMs: number;
  /** Opens the connection to one master, with the transport's options (credentials, TLS, reconnects). */
  connect(node: ClusterNodeAddress): Redis;
  /** Asks one node `CLUSTER SLOTS` (replaced in unit tests). */
  query?: (node: ClusterNodeAddress, credentials: LookupCredentials, timeoutMs: number) => Promise<unknown>;
}

const nodeKey = (node: ClusterNodeAddress): string => `${node.host}:${node.port}`;

/**
 * How old the slot map may be for {@link ClusterNodePool.everyMaster} to use it as is. MOVED,
 * script refusals and reconnects reload it as they happen; this bounds what none of them sees
 * (slots moved to a node no command of this process went to) for the restore sweep and inspect,
 * at one `CLUSTER SLOTS` lookup, over a short-lived connection, per this interval at most.
 */
export const EVERY_MASTER_MAP_MAX_AGE_MS = 60_000;

export class ClusterNodePool {
  /** Slot -> its master, as last learned; undefined until the first lookup (or for an unserved slot). */
  private readonly owners: (ClusterNodeAddress | undefined)[] = new Array<ClusterNodeAddress | undefined>(CLUSTER_SLOTS);
  private readonly clients = new Map<string, Redis>();
  /** The nodes the latest answer named, asked after the seeds. */
  private learned: ClusterNodeAddress[] = [];
  private loading: Promise<void> | undefined;
  private loaded = false;
  /** When the map was last loaded (performance.now() ms). */
  private loadedAtMs = 0;
  private closed = false;
  private readonly reloadListeners = new Set<() => void>();

  constructor(private readonly options: ClusterNodePoolOptions) {}

  /**
   * Reloads the slot map from the first node that answers (one lookup in flight at a time; a
   * caller arriving meanwhile shares it). Rejects with an OperationalError naming the last
   * failure when no node answers.
   */
  refresh(): Promise<void> {
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** The master serving `slot`, as last learned. */
  masterOf(slot: number): ClusterNodeAddress | undefined {
    return this.owners[slot];
  }

  /**
   * The connection to the master of `slot` (the map is loaded first when it never was; a reload
   * in flight, started by a MOVED or a refused script, is waited for, so the command after the
   * refused one goes to the new master).
   */
  async forSlot(slot: number): Promise<Redis> {
    if (!this.loaded) await this.refresh();
    else if (this.loading) await this.loading.catch(() => undefined);
    let master = this.owners[slot];
    if (master === undefined) {
      await this.refresh();
      master = this.owners[slot];
    }
    if (master === undefined) throw new OperationalError(`no cluster master serves hash slot ${slot} (CLUSTER SLOTS names none)`);
    return this.clientOf(master);
  }

  /** The connection to the master of `key`'s slot. */
  forKey(key: string): Promise<Redis> {
    return this.forSlot(keySlot(key));
  }

  /**
   * `items` grouped by the connection of their slot's master, each group in the items' order:
   * what one node's pipeline or pop script can take at once.
   */
  async group<T>(items: readonly T[], slotOf: (item: T) => number): Promise<Map<Redis, T[]>> {
    const groups = new Map<Redis, T[]>();
    for (const item of items) {
      const client = await this.forSlot(slotOf(item));
      const group = groups.get(client);
      if (group) group.push(item);
      else groups.set(client, [item]);
    }
    return groups;
  }

  /**
   * A connection to every master serving a slot (the restore sweep and inspect visit each). The
   * map is reloaded first only when it is older than EVERY_MASTER_MAP_MAX_AGE_MS: a sweep every
   * few seconds would otherwise open a lookup connection each time.
   */
  async everyMaster(): Promise<Redis[]> {
    if (!this.loaded || performance.now() - this.loadedAtMs > EVERY_MASTER_MAP_MAX_AGE_MS) await this.refresh();
    else if (this.loading) await this.loading.catch(() => undefined);
    const masters = new Map<string, ClusterNodeAddress>();
    for (const master of this.owners) if (master) masters.set(nodeKey(master), master);
    return [...masters.values()].map((master) => this.clientOf(master));
  }

  /**
   * Learns from a `MOVED` reply: the slot is pointed at the node it names at once, and the whole
   * map is reloaded in the background. True when `error` was a `MOVED` (the command did not run).
   */
  followRedirect(error: unknown): boolean {
    const moved = movedTarget(error);
    if (moved === undefined) return false;
    this.owners[moved.slot] = moved.node;
    // A failed reload leaves the map as MOVED set it; the next MOVED or lookup tries again.
    this.refresh().catch(() => undefined);
    return true;
  }

  /**
   * `send` on the master of `slot`; when it meets `MOVED` (so it did not run) the redirect is
   * followed and it is sent once more to the new master. Any other failure, a lost reply
   * included, is the caller's: the command may have run, and running it twice is not this
   * pool's call.
   */
  async onSlot<T>(slot: number, send: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await send(await this.forSlot(slot));
    } catch (error) {
      if (!this.followRedirect(error)) throw error;
    }
    try {
      return await send(await this.forSlot(slot));
    } catch (error) {
      this.followRedirect(error);
      throw error;
    }
  }

  /** Whether `node` serves a slot in the map as last learned. */
  serves(node: ClusterNodeAddress): boolean {
    return this.owners.some((master) => master !== undefined && master.port === node.port && master.host === node.host);
  }

  /** Calls `listener` after each reload of the map (connections outside the pool follow it); returns the remover. */
  onReload(listener: () => void): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  /** The connections open now, one per master used. */
  connections(): Redis[] {
    return [...this.clients.values()];
  }

  close(): void {
    this.closed = true;
    this.reloadListeners.clear();
    for (const client of this.clients.values()) client.disconnect();
    this.clients.clear();
  }

  private clientOf(master: ClusterNodeAddress): Redis {
    if (this.closed) throw new OperationalError('the cluster connection pool is closed');
    const key = nodeKey(master);
    let client = this.clients.get(key);
    if (client === undefined) {
      client = this.options.connect(master);
      this.clients.set(key, client);
    }
    return client;
  }

  private async load(): Promise<void> {
    const query = this.options.query ?? queryClusterSlots;
    const candidates = new Map<string, ClusterNodeAddress>();
    for (const node of [...this.options.seeds, ...this.learned]) candidates.set(nodeKey(node), node);
    let lastError: unknown;
    for (const node of candidates.values()) {
      try {
        const { ranges, nodes } = slotOwners(await query(node, this.options.credentials, this.options.queryTimeoutMs), node);
        if (ranges.length === 0) {
          lastError = new Error(`cluster node ${nodeKey(node)} names no slot ranges`);
          continue;
        }
        this.learned = nodes;
        this.owners.fill(undefined);
        for (const { start, end, master } of ranges) this.owners.fill(master, start, end + 1);
        this.loaded = true;
        this.loadedAtMs = performance.now();
        this.prune();
        for (const listener of this.reloadListeners) listener();
        return;
      } catch (error) {
        lastError = error;
      }
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    throw new OperationalError(`no cluster node answered CLUSTER SLOTS: ${reason}`, { cause: lastError });
  }

  /** Closes the connections of nodes that serve no slot any more (a demoted master, a removed node). */
  private prune(): void {
    const serving = new Set<string>();
    for (const master of this.owners) if (master) serving.add(nodeKey(master));
    for (const [key, client] of this.clients) {
      if (serving.has(key)) continue;
      this.clients.delete(key);
      client.disconnect();
    }
  }
}
