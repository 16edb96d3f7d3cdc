/**
 * A channel poller's subscriber connection: its set-up after every (re)connect (the CLIENT
 * TRACKING redirect target, then tracking on the poll connection, then the fanout patterns) and
 * what arrives on it, handed to the poller: tracking invalidations and fanout messages.
 */
import type { Redis } from 'ioredis';
import { FanoutSubscriptions } from './fanout-subscriptions.js';
import { INVALIDATE_CHANNEL, type InvalidationTracking } from './invalidation-tracking.js';

export interface SubscriberLinkHost {
  /** The poller is still open (a closed one reports no errors and changes no subscriptions). */
  open(): boolean;
  /** The fanout patterns wanted now, and what tells when they may have changed (see FanoutSubscriptions). */
  patterns(): readonly string[];
  revision(): number;
  /** Tracking is about to be switched on over the poll connection: nothing may block that connection. */
  beforeTrackingEnabled(): void;
  /** The set-up finished: invalidations are redirected here and the fanout patterns subscribed. */
  onReady(): void;
  /** An invalidation: an array of the key names written to, or null (everything may have changed). */
  onInvalidation(message: unknown): void;
  onFanoutMessage(pattern: string, channel: string, payload: string): void;
  onError(error: Error): void;
}

export class SubscriberLink {
  /** The set-up after the last (re)connect finished; subscriptions may be changed. */
  private ready = false;
  private readonly subscriptions: FanoutSubscriptions;

  constructor(
    subClient: Redis,
    private readonly tracking: InvalidationTracking,
    private readonly host: SubscriberLinkHost,
  ) {
    this.subscriptions = new FanoutSubscriptions(subClient, {
      patterns: () => host.patterns(),
      revision: () => host.revision(),
      usable: () => host.open() && this.ready,
      onError: (error) => host.onError(error),
    });
    subClient.on('ready', () => void this.setUp());
    // The Buffer event: an invalidation carries an array of key names (null = all), which the
    // string event would join with commas.
    subClient.on('messageBuffer', (channel: Buffer, message: unknown) => {
      if (channel.toString() === INVALIDATE_CHANNEL) host.onInvalidation(message);
    });
    subClient.on('pmessage', (pattern: string, channel: string, payload: string) => host.onFanoutMessage(pattern, channel, payload));
  }

  /** Brings the fanout subscriptions in line with the consumed queues. */
  sync(force = false): Promise<void> {
    return this.subscriptions.sync(force);
  }

  /** The consumed queues changed: the next sync compares the patterns again. */
  invalidate(): void {
    this.subscriptions.invalidate();
  }

  private async setUp(): Promise<void> {
    this.subscriptions.forget();
    this.ready = false;
    try {
      // No promise when tracking is unsupported: the subscriber is usable at once.
      const preparing = this.tracking.prepareSubscriber();
      if (preparing) await preparing;
      this.ready = true;
      this.host.beforeTrackingEnabled();
      await this.tracking.enable();
      await this.subscriptions.sync(true);
      this.host.onReady();
    } catch (error) {
      if (this.host.open()) this.host.onError(error as Error);
    }
  }
}
