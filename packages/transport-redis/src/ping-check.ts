/**
 * `PingCheck`: the health check of one of a transport's own connections (command, confirm). A
 * missing PONG is a half-open link that would never recover (no FIN, no RST): the socket is
 * replaced (`disconnect(true)`), and its 'close' and 'ready' report connectionLost and
 * reconnected. One PING at a time; a connection that is not ready is left to ioredis's reconnect.
 */
import type { Redis } from 'ioredis';
import { safeRedisCause } from './errors.js';

/** The health-check deadline when socketTimeout is unset (a PONG on loopback takes microseconds). */
const DEFAULT_HEALTH_TIMEOUT_MS = 10_000;

/** Health-check deadline (ms): socketTimeout (seconds) when set, else a fixed bound. */
export function healthTimeoutMs(socketTimeout: number | undefined): number {
  return socketTimeout === undefined ? DEFAULT_HEALTH_TIMEOUT_MS : socketTimeout * 1000;
}

export interface PingCheckContext {
  /** The connection to check now; undefined while it does not exist. */
  client(): Redis | undefined;
  /** Whether the transport is established (not connecting, closing or closed). */
  established(): boolean;
  /** How long a PONG may take on a working link. */
  readonly timeoutMs: number;
  /**
   * How much longer (ms) a PING sent now may legitimately wait: a command that blocks the
   * connection (a WAIT) answers it only once it ends.
   */
  blockedForMs?(): number;
  /** The link was found dead, with why (kept as the transport's last Redis error). */
  onDead(error: Error): void;
}

export class PingCheck {
  private pinging = false;

  constructor(private readonly ctx: PingCheckContext) {}

  check(): void {
    const client = this.ctx.client();
    if (this.pinging || !client || client.status !== 'ready' || !this.ctx.established()) return;
    this.pinging = true;
    let timer: NodeJS.Timeout | undefined;
    const limitMs = this.ctx.timeoutMs + Math.max(0, this.ctx.blockedForMs?.() ?? 0);
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), limitMs);
      timer.unref?.();
    });
    void Promise.race([client.ping().then(() => 'pong' as const, (error: unknown) => error), deadline])
      .then((outcome) => {
        if (outcome === 'pong' || client !== this.ctx.client() || !this.ctx.established()) return;
        const error = outcome === 'timeout' ? new Error(`no PONG within ${limitMs} ms`) : safeRedisCause(outcome);
        if (outcome !== 'timeout' && !/Command timed out/i.test(error.message)) return;
        this.ctx.onDead(error);
        if (['ready', 'connect', 'connecting'].includes(client.status)) client.disconnect(true);
      })
      .finally(() => {
        clearTimeout(timer);
        this.pinging = false;
      });
  }
}
