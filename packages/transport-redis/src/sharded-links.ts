/**
 * `ShardedLinks`: the liveness of the sharded layout's connections (one command connection per
 * master, the confirm and subscriber connections), as redis:// keeps it for its own:
 * - **health checks**: every `healthCheckInterval` while the transport's loop runs, each command
 *   connection is PINGed (PingCheck, one PING at a time per connection) and so is each confirm
 *   connection (with an allowance for a WAIT in flight). A link that stops answering without a
 *   FIN or RST (a half-open link, a master that hangs) is found while idle and replaced
 *   (`disconnect(true)`); the reconnect attempts reload the slot map, so a failed-over master's
 *   slots are found on the promoted replica.
 * - **events**: the first command or confirm connection that drops makes the transport
 *   'reconnecting' and emits `connectionLost`; once the last one lost is back ('ready'), or
 *   dropped for good because its node serves no slot any more ({@link ShardedLinks.keepOnly},
 *   after each slot-map reload: ioredis emits no 'end' for a client disconnected between two
 *   reconnect attempts), the transport is 'connected' again and emits `reconnected`.
 */
import type { Redis } from 'ioredis';
import type { ClusterNodePool } from './cluster-node-pool.js';
import { PingCheck } from './ping-check.js';

export interface ShardedLinksContext {
  /** Whether the transport is established (connected or reconnecting, not closing). */
  established(): boolean;
  /** The first link dropped: the transport goes 'reconnecting' and emits connectionLost. */
  firstLost(error: Error): void;
  /** The last link lost is back (or gone for good): the transport goes 'connected' and emits reconnected. */
  allBack(): void;
  /** The last error ioredis reported, for the connectionLost event. */
  lastError(): Error | undefined;
  /** How long a PONG may take on a working link. */
  readonly healthTimeoutMs: number;
  /** A health check found a link dead (before it is replaced). */
  onDead(error: Error): void;
}

export class ShardedLinks {
  /** Links found dead and not back yet. */
  private readonly lost = new Set<Redis>();
  private readonly checks = new WeakMap<Redis, PingCheck>();

  constructor(private readonly ctx: ShardedLinksContext) {}

  /** Follows `client`'s drops and returns (called once per connection, when it is made). */
  watch(client: Redis): void {
    client.on('close', () => this.down(client));
    client.on('ready', () => this.up(client));
    client.on('end', () => this.up(client));
  }

  /** Forgets the lost links not in `live` (the connections in use after a slot-map reload): they are not coming back. */
  keepOnly(live: Iterable<Redis>): void {
    const kept = new Set(live);
    for (const client of [...this.lost]) if (!kept.has(client)) this.up(client);
  }

  /** PINGs each command connection of `pool` (the confirm connections are checked by their owner). */
  checkHealth(pool: ClusterNodePool | undefined): void {
    for (const client of pool?.connections() ?? []) this.checkOf(client).check();
  }

  private checkOf(client: Redis): PingCheck {
    let check = this.checks.get(client);
    if (check === undefined) {
      check = new PingCheck({
        client: () => client,
        established: () => this.ctx.established(),
        timeoutMs: this.ctx.healthTimeoutMs,
        onDead: (error) => this.ctx.onDead(error),
      });
      this.checks.set(client, check);
    }
    return check;
  }

  private down(client: Redis): void {
    if (!this.ctx.established() || this.lost.has(client)) return;
    this.lost.add(client);
    if (this.lost.size === 1) this.ctx.firstLost(this.ctx.lastError() ?? new Error('connection closed'));
  }

  private up(client: Redis): void {
    if (!this.lost.delete(client) || this.lost.size > 0 || !this.ctx.established()) return;
    this.ctx.allBack();
  }
}
