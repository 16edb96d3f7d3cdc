/**
 * CLIENT TRACKING on one cluster master, in broadcasting mode (the sharded layout's wake-up,
 * sharded-tracking.ts): the pool's command connection to that master is tracked with
 * `BCAST PREFIX <prefix>{<q>}` for each consumed queue on it, redirected to a subscriber
 * connection on the same master that is subscribed to `__redis__:invalidate`. From then on the
 * master announces every write to a key of those queues, by anyone, without the keys having to
 * be read first (the pop of the sharded layout reads them on the command connection, shared by
 * every channel, where the default tracking mode would have to remember each key read).
 *
 * Not NOLOOP: a publish of this very connection (a producer and a consumer on one Connection) is
 * announced too, so it wakes the consumer; the cost is an announcement of this process's own pops
 * and acks, which the poll that follows a non-empty pop absorbs (and acks do not wake: their keys
 * are not lists). NOLOOP would not spare them anyway: the publish and pop scripts' writes were
 * announced with NOLOOP on too (seen on Redis 7.0 with test/cluster/sharded-tracking.test.ts), only
 * plain commands such as the RPUSH of a restore to the head would have been left out.
 *
 * Only while both connections hold and the prefixes were accepted ("armed") is a queue sure to
 * be announced when written; the `brpopTimeout` timer polls otherwise. A master that refuses
 * (CLIENT not permitted to the user, a proxy, Redis < 6) ends in 'unsupported': the timer alone;
 * a busy or loading one is asked again a second later.
 */
import { KelpError } from '@kelp/core';
import type { Redis } from 'ioredis';
import type { ClusterNodeAddress } from './cluster-connector.js';
import { isReplyError, replyCode } from './errors.js';
import { INVALIDATE_CHANNEL, REDIRECT_GONE, type TrackingState } from './invalidation-tracking.js';

export interface MasterTrackingHost {
  /** An invalidation: the key names written to, or null (everything may have changed: a flush). */
  onInvalidation(keys: readonly string[] | null): void;
  /** The prefixes were (re)applied: writes from now on are announced, earlier ones may not have been. */
  onArmed(): void;
  /** A failure that is neither a refusal nor a dropped connection (a next 'ready' or sync retries). */
  reportError(error: unknown): void;
}

/**
 * Reply codes that say "not now" rather than "never": a long script (BUSY), a node loading its
 * data, a slot or the cluster in transition. Tracking is tried again after RETRY_MS.
 */
const TRANSIENT_CODES = new Set(['BUSY', 'LOADING', 'TRYAGAIN', 'CLUSTERDOWN', 'MASTERDOWN']);
/** How long after a transient refusal the set-up is tried again. */
export const TRACKING_RETRY_MS = 1000;

/** The reply error behind a kelp error of a guarded client (errors.ts guardClient), or the error itself. */
function replyOf(error: unknown): unknown {
  return error instanceof KelpError ? error.cause : error;
}

export class MasterTracking {
  private tracking: TrackingState = 'unknown';
  private redirectId: number | undefined;
  /** Queue -> its key prefix, wanted now. */
  private wanted = new Map<string, string>();
  /** The queues whose prefixes are in force now (empty while not armed). */
  private armedQueues = new Set<string>();
  /** Bumped whenever the armed set may have changed, so an apply that straddled it arms nothing. */
  private epoch = 0;
  /** Set-ups and applies run one at a time: two CLIENT TRACKING ON with one prefix would overlap (refused). */
  private chain: Promise<void> = Promise.resolve();
  /** An apply is queued and not started: a change of the wanted queues joins it (it reads them when it starts). */
  private applyQueued = false;
  private readonly detach: (() => void)[] = [];
  private disposed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly node: ClusterNodeAddress,
    /** The pool's command connection to this master (shared; only listened to, never closed here). */
    readonly tracked: Redis,
    /** This tracking's own subscriber connection to the same master (closed by dispose). */
    private readonly subscriber: Redis,
    private readonly host: MasterTrackingHost,
  ) {
    const listen = (client: Redis, event: string, listener: Parameters<Redis['on']>[1]): void => {
      client.on(event, listener);
      this.detach.push(() => client.off(event, listener));
    };
    // The subscriber's client id dies with its connection: writes are not announced any more.
    listen(subscriber, 'close', () => {
      this.redirectId = undefined;
      this.disarm();
    });
    listen(subscriber, 'ready', () => this.enqueue(() => this.setUpSubscriber()));
    // The Buffer event: an invalidation carries an array of key names (null = all), which the
    // string event would join with commas.
    listen(subscriber, 'messageBuffer', (channel: Buffer, message: unknown) => {
      if (channel.toString() !== INVALIDATE_CHANNEL) return;
      host.onInvalidation(Array.isArray(message) ? message.map(String) : null);
    });
    // A new command connection has no tracking until apply ran on it.
    listen(tracked, 'close', () => this.disarm());
    listen(tracked, 'ready', () => this.enqueue(() => this.apply()));
  }

  /** 'on' while armed (some prefixes in force), 'unknown' while setting up or reconnecting, 'unsupported' once refused. */
  get state(): TrackingState {
    if (this.tracking === 'unsupported') return 'unsupported';
    return this.armedQueues.size > 0 ? 'on' : 'unknown';
  }

  /** Whether a write to `queue`'s keys is sure to be announced now. */
  covers(queue: string): boolean {
    return this.armedQueues.has(queue);
  }

  /** The queues consumed on this master now (queue -> key prefix); re-applied when they changed. */
  want(prefixes: ReadonlyMap<string, string>): void {
    const same = prefixes.size === this.wanted.size && [...prefixes].every(([queue, prefix]) => this.wanted.get(queue) === prefix);
    if (same) return;
    this.wanted = new Map(prefixes);
    // Consumers started one queue at a time change the set once per queue: one OFF/ON for them all.
    if (this.applyQueued) return;
    this.applyQueued = true;
    this.enqueue(() => {
      this.applyQueued = false;
      return this.apply();
    });
  }

  /** Stops listening to the shared command connection and closes the subscriber. */
  dispose(): void {
    this.disposed = true;
    this.disarm();
    for (const remove of this.detach) remove();
    this.detach.length = 0;
    clearTimeout(this.retryTimer);
    this.subscriber.disconnect();
  }

  /**
   * A reply error of a set-up step: a transient one (TRANSIENT_CODES) tries the set-up again
   * after TRACKING_RETRY_MS, any other is the master's verdict ('unsupported'). True when it
   * was a reply error at all (a dropped connection is neither: its next 'ready' sets up again).
   */
  private refusedBy(error: unknown): boolean {
    const reply = replyOf(error);
    if (!isReplyError(reply)) return false;
    if (!TRANSIENT_CODES.has(replyCode(reply) ?? '')) {
      this.refused();
      return true;
    }
    if (this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.disposed) return;
        this.enqueue(() => (this.redirectId === undefined ? this.setUpSubscriber() : this.apply()));
      }, TRACKING_RETRY_MS);
      this.retryTimer.unref?.();
    }
    return true;
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      if (!this.disposed) this.host.reportError(error);
    });
  }

  private disarm(): void {
    this.armedQueues = new Set();
    this.epoch++;
  }

  /** The master refused tracking: the timer drives polling, and the subscriber has nothing to carry. */
  private refused(): void {
    this.tracking = 'unsupported';
    this.disarm();
    this.subscriber.disconnect();
  }

  /** After each (re)connect of the subscriber: its client id is the redirect target, then it subscribes. */
  private async setUpSubscriber(): Promise<void> {
    this.redirectId = undefined;
    if (this.tracking === 'unsupported' || this.disposed) return;
    try {
      // CLIENT ID must run before the connection enters subscribe mode.
      const id = Number(await this.subscriber.client('ID'));
      await this.subscriber.subscribe(INVALIDATE_CHANNEL);
      this.redirectId = id;
    } catch (error) {
      // A refusal (CLIENT not permitted) is a verdict, a busy node is not; nor is a dropped
      // connection: its next 'ready' tries again.
      this.refusedBy(error);
      return;
    }
    await this.apply();
  }

  /**
   * Tracking off, then on with the wanted prefixes (OFF first: BCAST prefixes cannot be dropped
   * one by one, and the redirect target has a new id after a subscriber reconnect). Writes
   * between the two are not announced: the host polls every queue once armed (onArmed).
   */
  private async apply(): Promise<void> {
    if (this.tracking === 'unsupported' || this.disposed || this.redirectId === undefined || this.tracked.status !== 'ready') return;
    this.disarm();
    const epoch = this.epoch;
    const queues = new Map(this.wanted);
    try {
      await this.tracked.call('CLIENT', 'TRACKING', 'OFF');
      if (queues.size === 0) return;
      const prefixes = [...queues.values()].flatMap((prefix) => ['PREFIX', prefix]);
      await this.tracked.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(this.redirectId), 'BCAST', ...prefixes);
    } catch (error) {
      // A redirect target that no longer exists (the subscriber reconnected meanwhile) is no
      // verdict: the subscriber's 'ready' applies again with its new id. Nor is a dropped connection.
      const reply = replyOf(error);
      if (!(isReplyError(reply) && REDIRECT_GONE.test(reply.message))) this.refusedBy(error);
      return;
    }
    // A connection lost meanwhile: its 'ready' applies again.
    if (epoch !== this.epoch || this.disposed) return;
    this.tracking = 'on';
    this.armedQueues = new Set(queues.keys());
    this.host.onArmed();
  }
}
