/**
 * CLIENT TRACKING for one channel: the poll connection's tracking is redirected to the channel's
 * subscriber connection, which is subscribed to the invalidation channel. Only while both hold
 * ("armed") is a list found empty sure to be announced when written (see pop-candidates.ts);
 * the poller asks `armed` and `epoch` before it trusts a pop's empty lists. A server without
 * tracking (Redis < 6, a proxy or managed server that forbids CLIENT) ends in 'unsupported', and
 * the poller's brpopTimeout timer alone drives polling.
 */
import type { Redis } from 'ioredis';
import { isReplyError } from './errors.js';

export const INVALIDATE_CHANNEL = '__redis__:invalidate';

export type TrackingState = 'unknown' | 'on' | 'unsupported';

/**
 * The reply to CLIENT TRACKING ON REDIRECT <id> when that client has disconnected: a plain ERR,
 * with no code of its own to match, worded the same by Redis and Valkey.
 */
export const REDIRECT_GONE = /redirect to does not exist/i;

/** Both clients are connected to the same address (`::ffff:a.b.c.d` and `a.b.c.d` are one). */
function sameServer(a: Redis, b: Redis): boolean {
  const peer = (client: Redis): string => `${(client.stream?.remoteAddress ?? '').replace(/^::ffff:/, '')}:${client.stream?.remotePort ?? ''}`;
  return peer(a) === peer(b);
}

export interface InvalidationTrackingHost {
  /** Tracking was just enabled on the poll connection (armed now). */
  onArmed(): void;
  /**
   * Whether the two connections find their server each by itself and may, for a while, reach
   * different ones (sentinel://, during a failover). Elsewhere both dial the same address, and
   * comparing peers could only go wrong (one name, two addresses).
   */
  readonly serversMayDiffer: boolean;
  /** The clientTracking option: false starts (and stays) 'unsupported', the timer drives polling. */
  readonly enabled?: boolean;
}

export class InvalidationTracking {
  private tracking: TrackingState = 'unknown';
  /**
   * Tracking is on for the poll connection AND redirected to a live subscriber: only then is a
   * list found empty sure to be announced when written (see pop-candidates.ts).
   */
  private isArmed = false;
  /** Bumped whenever `armed` may have changed, so a pop that straddled the change trusts nothing. */
  private armEpoch = 0;
  private redirectId: number | undefined;

  constructor(
    private readonly pollClient: Redis,
    private readonly subClient: Redis,
    private readonly host: InvalidationTrackingHost,
  ) {
    if (host.enabled === false) this.tracking = 'unsupported';
    // The subscriber's client id dies with its connection. Forget it at once: a poll connection
    // that reconnects first must not redirect tracking to it (see enable). Writes from now on
    // are not announced, so nothing may be taken as empty any more.
    subClient.on('close', () => {
      this.redirectId = undefined;
      this.disarm();
    });
    // A new poll connection has no tracking until enable ran on it.
    pollClient.on('close', () => this.disarm());
    pollClient.on('ready', () => void this.enable());
  }

  get state(): TrackingState {
    return this.tracking;
  }

  get armed(): boolean {
    return this.isArmed;
  }

  get epoch(): number {
    return this.armEpoch;
  }

  /**
   * The subscriber connection is (re)connected: takes its client id as the redirect target and
   * subscribes it to the invalidation channel. Returns undefined, not a promise, when tracking is
   * unsupported: then there is nothing to wait for and the subscriber is usable at once. Rejects
   * only when the connection failed (not on an error reply: that means 'unsupported').
   */
  prepareSubscriber(): Promise<void> | undefined {
    this.redirectId = undefined;
    if (this.tracking === 'unsupported') return undefined;
    return this.subscribeInvalidations();
  }

  private async subscribeInvalidations(): Promise<void> {
    try {
      // CLIENT ID must run before the connection enters subscribe mode.
      this.redirectId = Number(await this.subClient.client('ID'));
      await this.subClient.subscribe(INVALIDATE_CHANNEL);
    } catch (error) {
      // Managed servers may forbid CLIENT (an error reply): poll on the timer, keep fanout
      // working. A dropped connection is not a verdict: the next 'ready' tries again.
      this.redirectId = undefined;
      if (isReplyError(error)) this.tracking = 'unsupported';
      else throw error;
    }
  }

  /** Turns tracking on for the poll connection, redirected to the subscriber (once both are ready). */
  async enable(): Promise<void> {
    if (this.redirectId === undefined || this.tracking === 'unsupported' || this.pollClient.status !== 'ready') return;
    // Each connection finds the master through the sentinels by itself: during a failover the two
    // can reach different servers, where the subscriber's id names some other client. Then the
    // one on the old master is dropped soon (switch-master, or the sentinel's CLIENT KILL) and
    // its 'ready' enables tracking again; until then the brpopTimeout timer drives polling.
    if (this.host.serversMayDiffer && !sameServer(this.pollClient, this.subClient)) return;
    try {
      // OFF first: after a subscriber reconnect the redirect target has a new client id.
      await this.pollClient.call('CLIENT', 'TRACKING', 'OFF');
      await this.pollClient.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(this.redirectId), 'NOLOOP');
      this.tracking = 'on';
      this.isArmed = true;
      this.armEpoch++;
      this.host.onArmed();
    } catch (error) {
      // Redis < 6 or a proxy without tracking: the brpopTimeout timer alone drives polling. A
      // redirect target that no longer exists (the subscriber reconnected meanwhile) is no verdict:
      // the subscriber's 'ready' enables tracking again with its new id.
      if (isReplyError(error) && !REDIRECT_GONE.test(error.message)) this.tracking = 'unsupported';
    }
  }

  /** Writes are no longer sure to be announced: nothing may be taken as empty any more. */
  disarm(): void {
    this.isArmed = false;
    this.armEpoch++;
  }
}
