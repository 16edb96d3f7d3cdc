/**
 * Liveness of a channel poller's two connections (poll, subscriber). On a half-open link (no FIN,
 * no RST: bytes just stop) a missing reply is the only sign, and the socket never recovers (bytes
 * were lost mid-stream), so a round trip that outlives its deadline, or that ioredis's own
 * `commandTimeout` (socketTimeout) rejects with "Command timed out", replaces the connection
 * (`disconnect(true)`: ioredis reconnects). The watchdog is BullMQ's idea for blocking commands;
 * the health check is Kombu's PING every health_check_interval, here on both connections.
 * A link declared dead is reported once (connectionLost) and once back (reconnected).
 */
import { OperationalError } from '@kelp/core';
import type { Redis } from 'ioredis';
import { isRedisConnectionError, isReplyError } from './errors.js';

export type PollerLink = 'poll' | 'subscriber';

export interface LinkWatchHost {
  onLinkLost(link: PollerLink, error: Error): void;
  onLinkRestored(link: PollerLink): void;
  onError(error: Error): void;
  /** Called each time a link is declared dead (before it is replaced). */
  onDead(link: PollerLink): void;
}

/** ioredis's commandTimeout rejection, and the watchdog's own. */
const TIMED_OUT = /Command timed out|did not answer within/i;
/** A timeout or a dropped connection: the link, not the command, failed (an error reply is the command's). */
const isDeadLinkError = (error: unknown): error is Error =>
  error instanceof Error && !isReplyError(error) && isRedisConnectionError(error);

export class LinkWatch {
  /** Links declared dead and not yet seen working again. */
  private readonly lost = new Set<PollerLink>();
  /** Health PINGs still waiting for their PONG (never stacked). */
  private readonly pinging = new Set<PollerLink>();
  private closed = false;
  /** When a connection was first seen (re)connecting by a health check and not ready since. */
  private readonly stuckSince: Partial<Record<PollerLink, number>> = {};

  constructor(
    private readonly clients: Record<PollerLink, Redis>,
    private readonly host: LinkWatchHost,
    private readonly options: { defaultLimitMs: number; healthTimeoutMs: number },
  ) {}

  /**
   * Bounds one round trip on `link`. Past the limit, or when the command is rejected with a
   * timeout or a connection error, the link is declared dead (see dead).
   */
  guard<T>(promise: Promise<T>, link: PollerLink, limitMs = this.options.defaultLimitMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        const error = new OperationalError(`redis ${link} connection did not answer within ${limitMs} ms; reconnecting it`);
        this.dead(link, error);
        reject(error);
      }, limitMs);
      timer.unref?.();
      promise.then(
        (value) => {
          clearTimeout(timer);
          if (!expired) resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (expired) return;
          if (isDeadLinkError(error)) this.dead(link, error);
          reject(error);
        },
      );
    });
  }

  /**
   * A timeout on a socket that still looks open is a half-open link: replace it. A connection
   * already closed is being reconnected by ioredis; it is only reported.
   */
  private dead(link: PollerLink, error: Error): void {
    if (this.closed) return;
    const client = this.clients[link];
    this.host.onDead(link);
    if (TIMED_OUT.test(error.message) && ['ready', 'connect', 'connecting'].includes(client.status)) client.disconnect(true);
    if (this.lost.has(link)) return;
    this.lost.add(link);
    this.host.onLinkLost(link, error);
  }

  /** `link` answered again (a good poll, a subscriber set up again). */
  restored(link: PollerLink): void {
    if (!this.lost.delete(link) || this.closed) return;
    this.host.onLinkRestored(link);
  }

  /** PINGs both connections; a PONG missing after healthTimeoutMs means a dead link, replaced at once. */
  async checkHealth(): Promise<void> {
    await Promise.all([this.ping('poll'), this.ping('subscriber')]);
  }

  private async ping(link: PollerLink): Promise<void> {
    const client = this.clients[link];
    if (this.closed) return;
    if (this.stuckConnecting(link, client)) return;
    if (client.status !== 'ready' || this.pinging.has(link)) return;
    this.pinging.add(link);
    try {
      await this.guard(client.ping(), link, this.options.healthTimeoutMs);
    } catch (error) {
      if (!this.closed) this.host.onError(error as Error);
    } finally {
      this.pinging.delete(link);
    }
  }

  /**
   * A reconnect through a half-open path can stay in 'connect' for good: the socket opened but
   * its ready check never gets an answer, and without socketTimeout nothing bounds it. Seen so by
   * health checks for longer than the health deadline, it is replaced like a missing PONG.
   */
  private stuckConnecting(link: PollerLink, client: Redis): boolean {
    if (client.status !== 'connect' && client.status !== 'connecting') {
      delete this.stuckSince[link];
      return false;
    }
    const since = (this.stuckSince[link] ??= Date.now());
    if (Date.now() - since >= this.options.healthTimeoutMs) {
      delete this.stuckSince[link];
      this.dead(link, new OperationalError(`redis ${link} connection did not answer within ${this.options.healthTimeoutMs} ms of connecting; reconnecting it`));
    }
    return true;
  }

  close(): void {
    this.closed = true;
  }
}
