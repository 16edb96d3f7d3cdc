/**
 * The consume loop of one channel: atomic batched pops, a non-destructive wake-up, fanout
 * subscriptions and the watchdog.
 *
 * Why not BRPOP (what Kombu does): BRPOP removes the message before the client can record it in
 * `unacked`, so a crash between the two loses it (docs/wire-format.md#delivery-record), and
 * BLMOVE/BRPOPLPUSH, which are atomic, take only one source key while a channel waits on queues x
 * priority steps. So kelp never lets a blocking command take data:
 *   1. take: the Lua `pop-and-record` RPOPs up to the free prefetch slots over the keys in
 *      Kombu's order (step first, then queue cycle order) and writes `unacked`/`unacked_index`
 *      in the same atomic step. The key layout is Kombu's, so a Python worker can restore what a
 *      crashed kelp process left, and the other way round.
 *   2. wait: each list the script found empty it also read with `EXISTS`, in the same atomic
 *      step, with CLIENT TRACKING on (redirected to this channel's subscriber connection). Redis
 *      then sends an invalidation naming the list as soon as anyone writes to it (a Python
 *      LPUSH included); that makes it a pop candidate again and pops at once. Lists known empty
 *      are left out of later pops (pop-candidates.ts), so many idle queues cost nothing. Nothing
 *      is popped while waiting, so there is nothing to lose.
 *   3. one queue: a channel consuming a single queue waits instead with a BLMOVE that moves its
 *      list's tail onto its own tail (takes nothing) and has the pop queued right behind it, so
 *      a push reaches the consumer in one hop instead of two (blocking-wait.ts).
 *   4. fallback: a timer of `brpopTimeout` (1 s, Kombu's BRPOP timeout) re-polls anyway, so a
 *      server without CLIENT TRACKING (Redis < 6, or a proxy that forbids it) still consumes, just
 *      with up to one second of latency.
 * Two pops may be in flight, each for half the prefetch window, so Redis takes the next batch
 * while this process hands out the previous one; the window counts them (never over prefetch).
 * The watchdog (BullMQ's idea for blocking commands): a poll round trip that outlives its
 * timeout plus a margin, or that ioredis's own `commandTimeout` rejects ("Command timed out"),
 * marks the poll connection dead; it is replaced and reconnected (link-watch.ts, which also runs
 * the health PINGs). A link declared dead is reported to the host (connectionLost) and back
 * after the first good poll / subscriber set-up (reconnected).
 */
import { EXPIRED_REASON, type EventLoopHub } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { BlockingWait } from './blocking-wait.js';
import { FanoutInbox } from './fanout-inbox.js';
import { InvalidationTracking, type TrackingState } from './invalidation-tracking.js';
import { LinkWatch } from './link-watch.js';
import type { ChannelPollerOptions, PollerHost } from './poller-host.js';
import { PopCandidates, type PopPair } from './pop-candidates.js';
import { PoppedInbox } from './popped-inbox.js';
import { call, parsePopResult, popAndArm, popAndRecordArgs, type PoppedEntry, type PopResult } from './scripts.js';
import { SubscriberLink } from './subscriber-link.js';

const WATCHDOG_MARGIN_MS = 5000;

export { FANOUT_MEMORY_LIMIT } from './fanout-inbox.js';
export type { PollerLink } from './link-watch.js';
export type { ChannelPollerOptions, PollerHost } from './poller-host.js';

/**
 * Pops in flight at once. Two let the server take the next batch while this process hands out
 * the previous one (one at a time left the consumer idle ~46% of a saturated drain, waiting for
 * the pop round trip); each then takes half of the prefetch window.
 */
const POPS_IN_FLIGHT = 2;
/**
 * Lists named by one pop when tracking is armed. A pop stops at its limit, usually within the
 * first one or two non-empty lists, and every key named costs the client a command argument
 * (twice: the pop and its leading-empty check): with 128, 100 busy queues consumed at 0.66x the
 * rate of one queue, with 16 at 1.5x. Lists a pop finds empty drop out (armed), so a pop whose
 * 16 lists were all empty is followed at once by one over the next 16. Unarmed, every list is
 * named: nothing would ever drop out of the prefix.
 */
const POP_KEYS_ARMED = 16;

export class ChannelPoller {
  private state: 'idle' | 'waiting' | 'closed' = 'idle';
  private hub: EventLoopHub | undefined;
  private removeStop: (() => void) | undefined;
  /** The hub stopped while the blocking wait in flight was on: what its pop takes goes back. */
  private stoppedDuringWait = false;
  /** A list counted as empty whose invalidation came during a blocking wait on it (so no longer armed). */
  private unarmedWaitList: string | undefined;
  /**
   * A blocking wait on this list brought messages: wait on it again once the hub reader has
   * handed them over (pump), not before: written first, the next wait's socket write would sit
   * between the reply and the callback, on every paced message's latency.
   */
  private waitAfterDelivery: string | undefined;
  private waitTimer: { cancel(): void } | undefined;
  /** Bumped by every wake (invalidation, nudge): a pop that raced one must not start a wait. */
  private wakes = 0;
  /** The subscriber connection's set-up, invalidations and fanout messages. */
  private readonly subscriber: SubscriberLink;
  private readonly popped = new PoppedInbox();
  private readonly fanout: FanoutInbox;
  /** Bumped when the poll connection is replaced, so a late reply of a dead poll is ignored. */
  private generation = 0;
  /** Pops sent and not answered yet (settled() waits for these promises). */
  private readonly inFlight = new Set<Promise<void>>();
  /** How many pops wait for their reply; drops before the reply is handled, unlike inFlight. */
  private popping = 0;
  /** Prefetch slots the pops in flight may fill. */
  private reserved = 0;
  /** Whether the last pop filled its whole limit (more is likely waiting: worth a second pop). */
  private lastPopFull = false;
  /** The last pop took as many messages as it asked for: there is a backlog. */
  private lastPopTookLimit = false;
  private readonly candidates: PopCandidates;
  /** Watchdog, health PINGs and the lost/restored state of the two connections. */
  private readonly links: LinkWatch;
  /** CLIENT TRACKING of the poll connection, redirected to the subscriber: whether empty lists are armed. */
  private readonly tracking: InvalidationTracking;
  /** The one-queue idle wait: a BLMOVE that takes nothing, with the pop queued behind it. */
  private readonly blocking: BlockingWait;
  /** The hash the pop counts dropped expired messages in. */
  private readonly expiredDropped: string;

  constructor(
    private readonly host: PollerHost,
    readonly pollClient: Redis,
    readonly subClient: Redis,
    private readonly options: ChannelPollerOptions,
  ) {
    this.candidates = new PopCandidates(options.keys);
    this.expiredDropped = options.keys.droppedKey(EXPIRED_REASON);
    this.fanout = new FanoutInbox(host);
    this.links = new LinkWatch(
      { poll: pollClient, subscriber: subClient },
      {
        onLinkLost: (link, error) => host.onLinkLost(link, error),
        onLinkRestored: (link) => host.onLinkRestored(link),
        onError: (error) => host.onError(error),
        onDead: (link) => {
          // A late reply of the dead poll must be ignored (see pop).
          if (link === 'poll') this.generation++;
        },
      },
      { defaultLimitMs: options.commandTimeoutMs ?? options.brpopTimeoutMs + WATCHDOG_MARGIN_MS, healthTimeoutMs: options.healthTimeoutMs },
    );
    this.blocking = new BlockingWait(pollClient, { unblock: (id) => host.unblockPoll(id) }, options.blockingWait);
    this.tracking = new InvalidationTracking(pollClient, subClient, {
      serversMayDiffer: options.serversMayDiffer,
      enabled: options.clientTracking,
      onArmed: () => {
        // A poll that ran before tracking was on armed nothing: poll every list again to arm them.
        this.candidates.reset();
        this.wake();
      },
    });
    this.subscriber = new SubscriberLink(subClient, this.tracking, {
      open: () => this.state !== 'closed',
      patterns: () => host.fanoutPatterns(),
      revision: () => host.fanoutRevision(),
      // Tracking is switched on over the poll connection: a blocking wait must not hold it up.
      beforeTrackingEnabled: () => this.blocking.interrupt(),
      onReady: () => {
        this.links.restored('subscriber');
        this.hub?.callSoon(() => undefined);
      },
      onInvalidation: (message) => this.onInvalidation(message),
      onFanoutMessage: (pattern, channel, payload) => {
        if (this.fanout.receive(pattern, channel, payload)) this.hub?.notifyReadable(this);
      },
      onError: (error) => host.onError(error),
    });
  }

  /** Lists someone wrote to (an array of key names), or null: everything may have changed. */
  private onInvalidation(message: unknown): void {
    if (!Array.isArray(message)) {
      this.candidates.reset();
      this.wake();
      return;
    }
    const keys = message.map(String);
    // A push to the list a blocking wait is on has woken that wait already. Its tracking is
    // spent, though: remembered, so the list is popped (and armed) again before anything else
    // takes it as empty (see pump and waitAgain).
    const waitingOn = this.blocking.waitingOn;
    const others = waitingOn === undefined ? keys : keys.filter((key) => key !== waitingOn);
    if (others.length < keys.length) this.unarmedWaitList = waitingOn;
    if (others.length === 0) return;
    this.candidates.invalidate(others);
    this.wake();
  }

  /** A method, not a field comparison, because the state changes across awaits. */
  private get closed(): boolean {
    return this.state === 'closed';
  }

  /** Attaches to a hub: deliveries happen from its reader callback. */
  attach(hub: EventLoopHub): void {
    this.hub = hub;
    hub.addReader(this, () => this.drain());
    // Nobody runs the hub any more: a blocking wait must not go on pulling messages in.
    this.removeStop?.();
    this.removeStop = hub.onStop?.(() => this.onHubStop());
    if (this.popped.size || this.fanout.size) hub.notifyReadable(this);
  }

  /** Called on every hub tick: start pops if the channel can take more, sync subscriptions. */
  onTick(): void {
    if (this.state === 'closed') return;
    void this.syncSubscriptions();
    if (this.fanout.size && this.host.pollCapacity() > 0) this.hub?.notifyReadable(this);
    this.pump(true);
  }

  /** Resolves once no pop is in flight (so nothing lands in the buffer afterwards). */
  async settled(): Promise<void> {
    this.blocking.interrupt();
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Starts pops while the prefetch window has room. Called from hub ticks, after a delivery batch
   * and straight from an invalidation (no hub hop between a push and the pop that takes it).
   * The window counts delivered-unacked messages (the host's capacity), popped ones waiting for
   * the hub reader, and what the pops in flight may still bring: never more than the prefetch.
   */
  private pump(inHub = false): void {
    if (this.state !== 'idle' || !this.hub) return;
    // Outside a hub callback only while the hub runs: an application that is not consuming
    // right now (between drainEvents calls) must not have messages pulled into memory. The
    // first tick of the next run pops instead.
    if (!inHub && !this.hubRunning) return;
    // A blocking wait holds the poll connection; its reply pumps again.
    if (this.blocking.waitingOn !== undefined) return;
    if (this.waitAfterDelivery !== undefined) {
      // What the wait brought is still on its way to the consumer: the reader pumps after it.
      if (this.popped.size > 0) return;
      const list = this.waitAfterDelivery;
      this.waitAfterDelivery = undefined;
      if (this.waitAgain(list)) return;
    }
    if (this.unarmedWaitList !== undefined) {
      // Not waiting on it any more: it must be popped again, which arms it, to count as empty.
      this.candidates.invalidate([this.unarmedWaitList]);
      this.unarmedWaitList = undefined;
    }
    // The state is checked on every round: a pop that failed at once switched to waiting.
    while (this.popping < POPS_IN_FLIGHT && this.state === 'idle') {
      const free = this.freeSlots();
      if (free <= 0) return;
      const share = this.popShare();
      // A second pop only when the last one came back full and a whole share is free: at low
      // rates one pop at a time takes everything there is.
      if (this.popping > 0 && (!this.lastPopFull || free < share)) return;
      const queues = this.host.pollQueues();
      if (queues.length === 0) return;
      // No pop in flight (and every reply handled: that is synchronous with its decrement):
      // older invalidation numbers can no longer matter.
      if (this.popping === 0) this.candidates.idle();
      const pairs = this.candidates.select(queues, this.tracking.armed ? POP_KEYS_ARMED : Infinity);
      if (pairs.length === 0) {
        // Every list is known empty and armed: the next write wakes us (fallback: the timer).
        if (this.popping === 0) this.rest();
        return;
      }
      this.track(this.pop(pairs, Math.min(share, free)));
    }
  }

  /** Prefetch slots no delivered-unacked, waiting or still-to-come popped message holds. */
  private freeSlots(): number {
    return this.host.pollCapacity() - this.popped.size - this.reserved;
  }

  private get hubRunning(): boolean {
    return (this.hub as { readonly running?: boolean } | undefined)?.running === true;
  }

  /** The share of the prefetch window one pop may take. */
  private popShare(): number {
    const prefetch = this.host.prefetchCount();
    return Math.min(this.options.batchSize, prefetch > 0 ? Math.max(1, Math.ceil(prefetch / POPS_IN_FLIGHT)) : this.options.batchSize);
  }

  /**
   * Nothing to pop and no pop in flight. One queue consumed: block on its list with the pop
   * queued behind (blocking-wait.ts). Otherwise sleep until an invalidation or the timer. Blocks
   * only while the hub runs and a stop can cut it short (onHubStop).
   */
  private rest(): void {
    if (!this.block()) this.waitFor(this.options.brpopTimeoutMs);
  }

  /** Sends the one-queue blocking wait (with its pop) if it applies now; false if it does not. */
  private block(): boolean {
    const queues = this.host.pollQueues();
    const free = this.freeSlots();
    // Not while tracking is being set up: CLIENT TRACKING goes out on the poll connection too.
    const trackingSettled = this.tracking.state !== 'unknown';
    const applies = queues.length === 1 && free > 0 && this.popping === 0 && this.state === 'idle' && trackingSettled;
    if (!applies || !this.hubRunning || !this.hub?.onStop || !this.blocking.usable) return false;
    const pairs = this.candidates.forWait(queues[0] as string);
    this.stoppedDuringWait = false;
    this.track(this.pop(pairs, Math.min(this.popShare(), free), (pairs[0] as PopPair)[0]));
    return true;
  }

  /**
   * After a blocking pop that took what there was: wait again straight away when no other list
   * needs a pop. Going through pump would pop the waited list once more only to re-arm it (its
   * tracking was spent by the push that woke the wait), doubling the commands per message.
   */
  private waitAgain(list: string): boolean {
    const others = this.candidates.select(this.host.pollQueues(), 2).some(([key]) => key !== list);
    return !others && this.block();
  }

  /**
   * Nobody runs the hub any more: an application between two drainEvents calls must not have
   * messages pulled in. The wait is cut short; a message its pop still took (pushed in the same
   * instant) goes back to the head of its queue when the reply comes (see pop).
   */
  private onHubStop(): void {
    if (this.blocking.waitingOn === undefined) return;
    this.stoppedDuringWait = true;
    this.blocking.interrupt();
  }

  private track(promise: Promise<void>): void {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise));
  }

  /** `blockOn`: a blocking wait on that list goes first (rest()); the pop runs when it ends. */
  private async pop(pairs: readonly PopPair[], limit: number, blockOn?: string): Promise<void> {
    const generation = this.generation;
    const mark = this.candidates.mark;
    const armEpoch = this.tracking.epoch;
    const wakes = this.wakes;
    const { keys } = this.options;
    const recorded = this.host.recordOnPop();
    const args = popAndRecordArgs(
      { unacked: keys.unacked, unackedIndex: keys.unackedIndex, queues: pairs, expiredDropped: this.expiredDropped },
      { now: this.options.wallClock(), limit, record: recorded, deadLetterFlags: this.host.expiredDeadLetterFlags(pairs) },
    );
    // Armed, leading-empty follows in the same socket write: it says how many of the named lists
    // lead empty and arms tracking on them (see leading-empty-n.lua for why not inside the pop).
    // A blocking pop does not arm: the lists it names were armed when found empty before. Nor
    // does a pop behind a full one: a backlog is still there, and should this pop empty it, the
    // next pop (which follows at once, the lists still being candidates) arms them.
    const arming = this.tracking.armed && blockOn === undefined && !this.lastPopTookLimit;
    this.reserved += limit;
    this.popping++;
    let result: PopResult;
    let empty = 0;
    try {
      if (blockOn !== undefined) {
        // Redis runs the pop the moment the wait ends (a push, UNBLOCK or its timeout). The wait
        // stays under half a configured socketTimeout, so ioredis never times the pop out.
        const { brpopTimeoutMs, commandTimeoutMs } = this.options;
        const waitMs = commandTimeoutMs === undefined ? brpopTimeoutMs : Math.min(brpopTimeoutMs, commandTimeoutMs / 2);
        const reply = this.blocking.waitThenPop(blockOn, waitMs / 1000, () => call(this.pollClient, 'popAndRecord', args));
        result = parsePopResult(await this.links.guard(reply, 'poll').finally(() => this.blocking.finished()));
      } else if (arming) {
        const [popReply, emptyReply] = await this.links.guard(popAndArm(this.pollClient, args, pairs.map((pair) => pair[0])), 'poll');
        result = parsePopResult(popReply);
        empty = Number(emptyReply) || 0;
      } else {
        result = parsePopResult(await this.links.guard(call(this.pollClient, 'popAndRecord', args), 'poll'));
      }
    } catch (error) {
      this.replied(limit);
      if (this.closed) return;
      this.host.onError(error instanceof Error ? error : new Error(String(error)));
      this.waitFor(this.options.brpopTimeoutMs);
      return;
    }
    this.replied(limit);
    if (generation !== this.generation) {
      // The connection was replaced meanwhile: treat the reply as lost. Anything the script
      // popped is recorded in unacked and comes back with the visibility-timeout restore.
      this.waitFor(this.options.brpopTimeoutMs);
      return;
    }
    this.links.restored('poll');
    const { entries, exhausted } = result;
    if (entries.length > 0 && blockOn !== undefined && this.stoppedDuringWait && !this.hubRunning) {
      this.host.giveBack(entries, recorded);
    } else if (entries.length > 0) {
      // Closed while the pop was in flight: what it took (recorded in unacked) stays in the
      // buffer, where the channel's close picks it up (takeUndelivered) and hands it back now
      // instead of after the visibility timeout.
      this.popped.add(entries, recorded);
      this.hub?.notifyReadable(this);
    }
    if (this.closed) return;
    if (arming && this.tracking.armed && armEpoch === this.tracking.epoch) this.candidates.foundEmpty(pairs, empty, mark);
    // A pop that named only a prefix of the lists and found them empty is not the end.
    this.lastPopTookLimit = entries.length >= limit;
    this.lastPopFull = this.lastPopTookLimit || (exhausted === pairs.length && pairs.length >= POP_KEYS_ARMED);
    if (blockOn !== undefined && entries.length < limit) {
      if (entries.length > 0 && this.popped.size > 0) {
        this.waitAfterDelivery = blockOn;
        return;
      }
      if (this.waitAgain(blockOn)) return;
    }
    // Nothing anywhere and no wake-up on the way: sleep until an invalidation or the timer.
    // (Armed, the candidates say so by themselves; unarmed, every list stays a candidate.)
    if (entries.length === 0 && !this.tracking.armed && wakes === this.wakes) {
      if (this.popping === 0) this.rest();
      return;
    }
    this.pump();
  }

  /** A pop's reply (or failure) arrived: its slots are no longer reserved. */
  private replied(limit: number): void {
    this.reserved -= limit;
    this.popping--;
  }

  private waitFor(ms: number): void {
    if (this.state === 'closed') return;
    this.state = 'waiting';
    this.waitTimer?.cancel();
    const timer = setTimeout(() => {
      this.waitTimer = undefined;
      if (this.state !== 'waiting') return;
      // The fallback poll trusts nothing it knew: every list is popped once more.
      this.candidates.reset();
      this.state = 'idle';
      this.pump();
      this.hub?.callSoon(() => undefined);
    }, ms);
    timer.unref?.();
    this.waitTimer = { cancel: () => clearTimeout(timer) };
  }

  /**
   * A list we wait on was written (or the consumed queues changed): pop again now. A blocking
   * wait in flight is cut short for that (it waits on another list).
   */
  private wake(): void {
    this.wakes++;
    this.blocking.interrupt();
    if (this.state === 'waiting') {
      this.waitTimer?.cancel();
      this.waitTimer = undefined;
      this.state = 'idle';
    }
    this.pump();
  }

  /** The consumed queues changed: resubscribe fanout patterns and poll the new key set now. */
  nudge(): void {
    this.subscriber.invalidate();
    void this.syncSubscriptions();
    this.wake();
    this.hub?.callSoon(() => undefined);
  }

  /** Hands buffered messages to the channel (hub reader). */
  private drain(): void {
    this.popped.deliver((entries, recorded) => this.host.onPopped(entries, recorded));
    this.fanout.deliver();
    // Consumers that ack in their callback freed their slots just now: the next pop leaves at
    // once instead of on the next hub tick.
    this.pump(true);
  }

  /** Brings the fanout subscriptions in line with the consumed queues. */
  syncSubscriptions(force = false): Promise<void> {
    return this.subscriber.sync(force);
  }

  /** Kombu's health check on the pub/sub link, on the poll connection too (see LinkWatch). */
  async checkHealth(): Promise<void> {
    if (this.state === 'closed') return;
    await this.links.checkHealth();
  }

  /** Whether the poll connection can carry acks now (poll-ack-lane.ts): not behind a blocking wait. */
  get acceptsAcks(): boolean {
    return this.state !== 'closed' && this.pollClient.status === 'ready' && this.blocking.waitingOn === undefined;
  }

  /** Lists currently skipped because a pop found them empty (diagnostics, tests). */
  get knownEmptyLists(): number {
    return this.candidates.emptyCount;
  }

  get trackingState(): TrackingState {
    return this.tracking.state;
  }

  /** Messages popped but not yet handed to the channel, each with whether it was recorded in unacked. */
  takeUndelivered(): { entry: PoppedEntry; recorded: boolean }[] {
    return this.popped.takeAll();
  }

  /** Stops delivering through the hub (the hub poller was stopped). */
  detach(): void {
    this.removeStop?.();
    this.onHubStop();
    this.hub?.removeReader(this);
    this.hub = undefined;
  }

  close(): void {
    this.state = 'closed';
    this.removeStop?.();
    // Or the connection's QUIT would wait behind the blocking command.
    this.blocking.interrupt();
    this.links.close();
    this.waitTimer?.cancel();
    this.hub?.removeReader(this);
  }
}
