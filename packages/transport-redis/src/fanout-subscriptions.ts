/**
 * The PSUBSCRIBE patterns of a channel's fanout queues on its subscriber connection. Unlike
 * Kombu (docs/wire-format.md#fanout) late-added fanout queues are subscribed at once and cancel
 * really unsubscribes the pattern.
 */
import type { Redis } from 'ioredis';
import { replyCode } from './errors.js';

export interface FanoutSubscriptionsHost {
  /** The patterns wanted now. */
  patterns(): readonly string[];
  /** Changes whenever the patterns may have changed for another reason than the consumed queues. */
  revision(): number;
  /** Whether subscriptions may be changed now (poller open, subscriber set up). */
  usable(): boolean;
  onError(error: Error): void;
}

const SETTLED: Promise<void> = Promise.resolve();

/**
 * PUNSUBSCRIBE on a connection subscribed to nothing: Redis answers with a count of 0, Valkey
 * with a NOSUB error. Either way the pattern is not subscribed, which is what was asked for.
 */
function unlessNotSubscribed(error: unknown): void {
  if (replyCode(error) !== 'NOSUB') throw error;
}

export class FanoutSubscriptions {
  private readonly subscribed = new Set<string>();
  private subscribing: Promise<void> | undefined;
  /**
   * The host revision the subscriptions were last brought in line with; undefined when they must
   * be compared again (consumed queues changed, a reconnect, a failed subscribe). The poller
   * syncs on every hub tick, which at low rates is every message: comparing the patterns each
   * time built a map, two sets and two arrays (~0.9 KB per message) to find nothing to do.
   */
  private syncedAt: number | undefined;

  constructor(
    private readonly client: Redis,
    private readonly host: FanoutSubscriptionsHost,
  ) {}

  /** The connection was (re)established: nothing is subscribed on it yet. */
  forget(): void {
    this.subscribed.clear();
    this.syncedAt = undefined;
  }

  /** The consumed queues changed: the next sync compares the patterns again. */
  invalidate(): void {
    this.syncedAt = undefined;
  }

  /** PSUBSCRIBEs patterns wanted since, PUNSUBSCRIBEs dropped ones (one change at a time unless forced). */
  sync(force = false): Promise<void> {
    if (this.subscribing && !force) return this.subscribing;
    if (this.client.status !== 'ready' || !this.host.usable()) return SETTLED;
    const revision = this.host.revision();
    if (!force && this.syncedAt === revision) return SETTLED;
    this.syncedAt = revision;
    const wanted = new Set(this.host.patterns());
    const add = [...wanted].filter((p) => !this.subscribed.has(p));
    const remove = [...this.subscribed].filter((p) => !wanted.has(p));
    if (!add.length && !remove.length) return SETTLED;
    this.subscribing = (async () => {
      try {
        for (const p of add) this.subscribed.add(p);
        for (const p of remove) this.subscribed.delete(p);
        if (add.length) await this.client.psubscribe(...add);
        if (remove.length) await this.client.punsubscribe(...remove).catch(unlessNotSubscribed);
      } catch (error) {
        for (const p of add) this.subscribed.delete(p);
        this.syncedAt = undefined;
        if (this.host.usable()) this.host.onError(error as Error);
      } finally {
        this.subscribing = undefined;
      }
    })();
    return this.subscribing;
  }
}
