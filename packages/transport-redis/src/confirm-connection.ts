/**
 * `ConfirmConnection`: the connection of a transport's confirmed publishes, shared by its
 * channels: their writes (`writes`) and the WAITs that confirm them (`waitForReplicas`, see
 * ReplicaWaits). Redis blocks the client that sends WAIT, so on the command connection a WAIT
 * for a missing replica would hold up every plain publish, ack and restore of the transport for
 * its whole timeout; here it holds up only confirmed publishes, which wait for it anyway.
 *
 * Opened by the first confirmed publish (a transport that never confirms has no such connection)
 * and kept until the transport closes. Like the command connection, it is health-checked (with
 * an allowance for the WAIT in flight) and reported lost and back through the transport.
 */
import { OperationalError } from '@kelp/core';
import type { ReplicaAcknowledgement } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { closeClient, connectClient, DEFAULT_COMMAND_TIMEOUT_MS } from './connections.js';
import { guardClient, wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import { PingCheck } from './ping-check.js';
import { RedisPublishing } from './redis-publishing.js';
import { ReplicaWaits } from './replica-waits.js';

/** Time left between a WAIT's own timeout and the command timeout, for its reply to arrive. */
const CONFIRM_MARGIN_MS = 1000;

/**
 * The longest confirm timeout (seconds) a WAIT can have on a connection whose command timeout is
 * `commandTimeoutMs` (ioredis's default when unset): ioredis fails any command that outlives it,
 * the WAIT and whatever waits behind it.
 */
export function confirmTimeoutLimit(commandTimeoutMs: number | undefined): number {
  const limitMs = commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return Math.max(limitMs - CONFIRM_MARGIN_MS, limitMs / 2) / 1000;
}

export interface ConfirmConnectionContext {
  /** A new, not yet connected client with the 'confirm' role, its link reporting wired. */
  newClient(): Redis;
  readonly keys: RedisKeys;
  /** The broker URL without its password, for error messages. */
  readonly redactedUrl: string;
  /** The longest confirm timeout (seconds) the connection's command timeout leaves room for. */
  readonly maxTimeout: number;
  /** How long a PONG may take on a working link. */
  readonly healthTimeoutMs: number;
  /** Whether the transport is established (see PingCheck). */
  established(): boolean;
  /** The health check found the link dead (before it is replaced). */
  onDead(error: Error): void;
  reportError(error: Error): void;
}

export class ConfirmConnection implements ReplicaAcknowledgement {
  readonly maxTimeout: number;
  private client: Redis | undefined;
  private publishing: RedisPublishing | undefined;
  private closed = false;
  /** Until when (Date.now() clock) a WAIT may hold the connection. */
  private blockedUntil = 0;
  private readonly waits: ReplicaWaits;
  private readonly health: PingCheck;

  constructor(private readonly ctx: ConfirmConnectionContext) {
    this.maxTimeout = ctx.maxTimeout;
    this.waits = new ReplicaWaits({
      client: () => this.use(),
      maxTimeout: ctx.maxTimeout,
      wrapError: (error) => wrapRedisError(error, ctx.redactedUrl, 'wait'),
      blockedUntil: (untilMs) => {
        this.blockedUntil = Math.max(this.blockedUntil, untilMs);
      },
    });
    this.health = new PingCheck({
      client: () => this.client,
      established: () => ctx.established(),
      timeoutMs: ctx.healthTimeoutMs,
      // A PING queued behind a WAIT is answered when the WAIT ends: that is not a dead link.
      blockedForMs: () => this.blockedUntil - Date.now(),
      onDead: (error) => ctx.onDead(error),
    });
  }

  /**
   * The writes of confirmed publishes, on this connection (opened now on first use; commands
   * sent while it connects are written once it is ready).
   */
  get writes(): RedisPublishing {
    this.publishing ??= new RedisPublishing(guardClient(this.use(), this.ctx.redactedUrl), this.ctx.keys, this.ctx.redactedUrl);
    return this.publishing;
  }

  /** The client, if a confirmed publish created it (a sentinel switch moves it with the others). */
  get existingClient(): Redis | undefined {
    return this.client;
  }

  waitForReplicas(replicas: number, timeout: number): Promise<number> {
    return this.waits.waitForReplicas(replicas, timeout);
  }

  /** PINGs the connection, once it exists (called with the command connection's check). */
  checkHealth(): void {
    this.health.check();
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.publishing = undefined;
    if (client) await closeClient(client);
  }

  /** The client, created and connected on first use; refused once the transport closed. */
  private use(): Redis {
    if (this.closed) throw new OperationalError(`redis transport for ${this.ctx.redactedUrl} is closed; no confirmed publish can be sent`);
    if (this.client) return this.client;
    const client = this.ctx.newClient();
    this.client = client;
    connectClient(client).catch((error: unknown) => this.ctx.reportError(wrapRedisError(error, this.ctx.redactedUrl, 'connect')));
    return client;
  }
}
