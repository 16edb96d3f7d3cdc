/**
 * The consume loop of one channel: atomic batched pops, a non-destructive wake-up, fanout
 * subscriptions and the watchdog.
 *
 * Why not BRPOP (what Kombu does): BRPOP removes the message before the client can record it in
 * `unacked`, so a crash between the two loses it (spec 5.1), and BLMOVE/BRPOPLPUSH, which are
 * atomic, take only one source key while a channel waits on queues x priority steps. So kelp never
 * lets a blocking command take data:
 *   1. take: the Lua `pop-and-record` RPOPs up to the free prefetch slots over the keys in
 *      Kombu's order (step first, then queue cycle order) and writes `unacked`/`unacked_index`
 *      in the same atomic step. The key layout is Kombu's, so a Python worker can restore what a
 *      crashed kelp process left, and the other way round.
 *   2. wait: when nothing was there, the same pipeline ran `EXISTS` over the keys with
 *      CLIENT TRACKING on (redirected to this channel's subscriber connection). Redis then sends
 *      an invalidation as soon as any of those keys is written by anyone (a Python LPUSH
 *      included); that wakes the loop. Nothing is popped while waiting, so there is nothing to
 *      lose. If EXISTS saw a key (a push raced the pop) the loop pops again at once.
 *   3. fallback: a timer of `brpopTimeout` (1 s, Kombu's BRPOP timeout) re-polls anyway, so a
 *      server without CLIENT TRACKING (Redis < 6, or a proxy that forbids it) still consumes, just
 *      with up to one second of latency.
 * The watchdog (BullMQ's idea for blocking commands): a poll round trip that outlives its
 * timeout plus a margin, or that ioredis's own `commandTimeout` rejects ("Command timed out"),
 * marks the poll connection dead; it is replaced and reconnected (link-watch.ts, which also runs
 * the health PINGs). A link declared dead is reported to the host (connectionLost) and back
 * after the first good poll / subscriber set-up (reconnected).
 */
import type { EventLoopHub } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';
import { LinkWatch, type PollerLink } from './link-watch.js';
import { parsePopReply, popAndRecordArgs, queuePopAndRecord, type PoppedEntry } from './scripts.js';

const INVALIDATE_CHANNEL = '__redis__:invalidate';
/**
 * Pub/sub cannot be paused, so fanout messages that arrive while the prefetch is full wait in
 * memory. Past this many the rest spill into the fanout queue's own list in Redis: memory stays
 * bounded (a consumer that stops acking was seen growing to 700 MiB) and nothing is dropped.
 */
export const FANOUT_MEMORY_LIMIT = 1000;

const isReplyError = (error: unknown): error is Error => error instanceof Error && error.name === 'ReplyError';
/** Redis's reply to CLIENT TRACKING ON REDIRECT <id> when that client has disconnected. */
const REDIRECT_GONE = /redirect to does not exist/i;
const WATCHDOG_MARGIN_MS = 5000;

export type { PollerLink } from './link-watch.js';

/** What the poller needs from its channel. */
export interface PollerHost {
  /** Non-fanout queues being consumed, in the cycle's order. */
  pollQueues(): readonly string[];
  /** How many more messages the channel may take now (QoS); Infinity when unlimited. */
  pollCapacity(): number;
  /** Record pops in `unacked` (ack emulation on and some consumer wants acks). */
  recordOnPop(): boolean;
  /** PSUBSCRIBE patterns of the active fanout queues. */
  fanoutPatterns(): readonly string[];
  /** Popped list messages, called from a hub reader. */
  onPopped(entries: readonly PoppedEntry[], recorded: boolean): void;
  /**
   * A pub/sub message arrived while FANOUT_MEMORY_LIMIT messages already wait in memory: store it
   * in the queue's Redis list instead (which is popped like any list, under the QoS).
   */
  onFanoutOverflow(pattern: string, channel: string, payload: string): void;
  /** One pub/sub message, called from a hub reader. False = cannot take it now (QoS); retried later. */
  onFanout(pattern: string, channel: string, payload: string): boolean;
  /** A background failure (poll, subscribe, health check). */
  onError(error: Error): void;
  /** A connection was found dead (timeout, closed) and is being replaced. */
  onLinkLost(link: PollerLink, error: Error): void;
  /** That connection works again (a good poll, a subscriber set up again). */
  onLinkRestored(link: PollerLink): void;
}

export interface ChannelPollerOptions {
  keys: RedisKeys;
  brpopTimeoutMs: number;
  /** Overrides the watchdog deadline of one poll round trip (socketTimeout). */
  commandTimeoutMs: number | undefined;
  /** How long a health-check PING may wait for its PONG before the link counts as dead. */
  healthTimeoutMs: number;
  batchSize: number;
  /** Wall clock in seconds for unacked_index scores (Kombu uses time.time()). */
  wallClock: () => number;
}

type PollState = 'idle' | 'polling' | 'waiting' | 'closed';
type FanoutItem = { pattern: string; channel: string; payload: string };

export class ChannelPoller {
  private state: PollState = 'idle';
  private hub: EventLoopHub | undefined;
  private waitTimer: { cancel(): void } | undefined;
  private woken = false;
  private tracking: 'unknown' | 'on' | 'unsupported' = 'unknown';
  private redirectId: number | undefined;
  /** The subscriber finished its (re)connect set-up; subscriptions may be synced. */
  private subReady = false;
  private readonly subscribed = new Set<string>();
  private subscribing: Promise<void> | undefined;
  private popped: PoppedEntry[] = [];
  private readonly fanout: FanoutItem[] = [];
  /** Bumped when the poll connection is replaced, so a late reply of a dead poll is ignored. */
  private generation = 0;
  private inFlight: Promise<void> | undefined;
  /** Watchdog, health PINGs and the lost/restored state of the two connections. */
  private readonly links: LinkWatch;

  constructor(
    private readonly host: PollerHost,
    readonly pollClient: Redis,
    readonly subClient: Redis,
    private readonly options: ChannelPollerOptions,
  ) {
    this.links = new LinkWatch(
      { poll: pollClient, subscriber: subClient },
      {
        onLinkLost: (link, error) => host.onLinkLost(link, error),
        onLinkRestored: (link) => host.onLinkRestored(link),
        onError: (error) => host.onError(error),
        onDead: (link) => {
          // A late reply of the dead poll must be ignored (see poll).
          if (link === 'poll') this.generation++;
        },
      },
      { defaultLimitMs: options.commandTimeoutMs ?? options.brpopTimeoutMs + WATCHDOG_MARGIN_MS, healthTimeoutMs: options.healthTimeoutMs },
    );
    subClient.on('ready', () => void this.onSubscriberReady());
    // The subscriber's client id dies with its connection. Forget it at once: a poll connection
    // that reconnects first must not redirect tracking to it (see enableTracking).
    subClient.on('close', () => {
      this.redirectId = undefined;
    });
    pollClient.on('ready', () => void this.enableTracking());
    subClient.on('message', (channel: string) => {
      if (channel === INVALIDATE_CHANNEL) this.wake();
    });
    subClient.on('pmessage', (pattern: string, channel: string, payload: string) => {
      if (this.fanout.length >= FANOUT_MEMORY_LIMIT) {
        this.host.onFanoutOverflow(pattern, channel, payload);
        return;
      }
      this.fanout.push({ pattern, channel, payload });
      if (this.hub) this.hub.notifyReadable(this);
    });
  }

  /** A method, not a field comparison, because the state changes across awaits. */
  private get closed(): boolean {
    return this.state === 'closed';
  }

  /** Attaches to a hub: deliveries happen from its reader callback. */
  attach(hub: EventLoopHub): void {
    this.hub = hub;
    hub.addReader(this, () => this.drain());
    if (this.popped.length || this.fanout.length) hub.notifyReadable(this);
  }

  /** Called on every hub tick: start a poll if the channel can take more, sync subscriptions. */
  onTick(): void {
    if (this.state === 'closed') return;
    void this.syncSubscriptions();
    if (this.fanout.length && this.host.pollCapacity() > 0) this.hub?.notifyReadable(this);
    if (this.state !== 'idle') return;
    const queues = this.host.pollQueues();
    // Popped messages still waiting for the hub reader already count against the prefetch.
    const capacity = this.host.pollCapacity() - this.popped.length;
    if (queues.length === 0 || capacity <= 0) return;
    this.inFlight = this.poll(queues, Math.min(this.options.batchSize, capacity)).finally(() => {
      this.inFlight = undefined;
    });
  }

  /** Resolves once no poll is in flight (so nothing lands in the buffer afterwards). */
  async settled(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  private async poll(queues: readonly string[], limit: number): Promise<void> {
    this.state = 'polling';
    this.woken = false;
    const generation = this.generation;
    const { keys } = this.options;
    const popKeys = keys.popKeys(queues);
    const args = popAndRecordArgs(
      {
        unacked: keys.unacked,
        unackedIndex: keys.unackedIndex,
        queues: popKeys.map((k) => [k, keys.deadLetterKey(keys.queueFromKey(k))] as const),
      },
      { now: this.options.wallClock(), limit, record: (this.recordedPops = this.host.recordOnPop()) },
    );
    const pipeline = this.pollClient.pipeline();
    queuePopAndRecord(pipeline, args);
    // EXISTS is a read: with tracking on it arms an invalidation for every key (see header).
    pipeline.exists(...popKeys);
    let entries: PoppedEntry[] = [];
    let pending = 0;
    try {
      const results = await this.links.guard(pipeline.exec(), 'poll');
      if (generation !== this.generation) {
        // The connection was replaced meanwhile: treat the reply as lost. Anything the script
        // popped is recorded in unacked and comes back with the visibility-timeout restore.
        this.waitFor(this.options.brpopTimeoutMs);
        return;
      }
      const [popResult, existsResult] = results ?? [];
      if (popResult?.[0]) throw popResult[0];
      entries = parsePopReply(popResult?.[1]);
      pending = Number(existsResult?.[1] ?? 0);
      this.links.restored('poll');
      if (this.closed) {
        // Closed while the pop was in flight: what it took (recorded in unacked) stays in the
        // buffer, where the channel's close picks it up (takeUndelivered) and hands it back now
        // instead of after the visibility timeout.
        this.popped.push(...entries);
        return;
      }
    } catch (error) {
      if (this.closed) return;
      this.host.onError(error instanceof Error ? error : new Error(String(error)));
      this.waitFor(this.options.brpopTimeoutMs);
      return;
    }
    if (entries.length > 0) {
      this.popped.push(...entries);
      this.hub?.notifyReadable(this);
      // The EXISTS that ran after the pop saw every list empty and armed tracking on them: wait
      // for the invalidation instead of spending a round trip to find them empty again (at low
      // rates that halves the polls, and the delivery is not queued behind a poll's write).
      if (pending === 0 && !this.woken && this.tracking === 'on') {
        this.waitFor(this.options.brpopTimeoutMs);
        this.hub?.callSoon(() => undefined);
        return;
      }
      this.state = 'idle';
      this.hub?.callSoon(() => undefined);
      return;
    }
    if (pending > 0 || this.woken) {
      this.state = 'idle';
      this.hub?.callSoon(() => undefined);
      return;
    }
    this.waitFor(this.options.brpopTimeoutMs);
  }

  private waitFor(ms: number): void {
    if (this.state === 'closed') return;
    this.state = 'waiting';
    this.waitTimer?.cancel();
    const timer = setTimeout(() => {
      if (this.state === 'waiting') this.state = 'idle';
      this.hub?.callSoon(() => undefined);
    }, ms);
    timer.unref?.();
    this.waitTimer = { cancel: () => clearTimeout(timer) };
  }

  /** A key we wait on was written: poll again now. */
  private wake(): void {
    this.woken = true;
    if (this.state !== 'waiting') return;
    this.waitTimer?.cancel();
    this.waitTimer = undefined;
    this.state = 'idle';
    this.hub?.callSoon(() => undefined);
  }

  /** The consumed queues changed: resubscribe fanout patterns and poll the new key set now. */
  nudge(): void {
    void this.syncSubscriptions();
    this.wake();
    this.hub?.callSoon(() => undefined);
  }

  /** Hands buffered messages to the channel (hub reader). */
  private drain(): void {
    if (this.popped.length) {
      const batch = this.popped;
      this.popped = [];
      this.host.onPopped(batch, this.recordedPops);
    }
    while (this.fanout.length) {
      const item = this.fanout[0] as FanoutItem;
      if (!this.host.onFanout(item.pattern, item.channel, item.payload)) break;
      this.fanout.shift();
    }
  }

  private async onSubscriberReady(): Promise<void> {
    this.subscribed.clear();
    this.subReady = false;
    this.redirectId = undefined;
    try {
      if (this.tracking !== 'unsupported') {
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
      this.subReady = true;
      await this.enableTracking();
      await this.syncSubscriptions(true);
      this.links.restored('subscriber');
      this.hub?.callSoon(() => undefined);
    } catch (error) {
      if (this.state !== 'closed') this.host.onError(error as Error);
    }
  }

  private async enableTracking(): Promise<void> {
    if (this.redirectId === undefined || this.tracking === 'unsupported' || this.pollClient.status !== 'ready') return;
    try {
      // OFF first: after a subscriber reconnect the redirect target has a new client id.
      await this.pollClient.call('CLIENT', 'TRACKING', 'OFF');
      await this.pollClient.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(this.redirectId), 'NOLOOP');
      this.tracking = 'on';
      // A poll that ran before tracking was on armed nothing: poll again to arm the keys.
      this.wake();
    } catch (error) {
      // Redis < 6 or a proxy without tracking: the brpopTimeout timer alone drives polling. A
      // redirect target that no longer exists (the subscriber reconnected meanwhile) is no verdict:
      // the subscriber's 'ready' enables tracking again with its new id.
      if (isReplyError(error) && !REDIRECT_GONE.test(error.message)) this.tracking = 'unsupported';
    }
  }

  /**
   * PSUBSCRIBEs patterns of fanout queues added since, PUNSUBSCRIBEs removed ones. Unlike Kombu
   * (spec 3.5 pitfalls) late-added fanout queues are subscribed at once and cancel really
   * unsubscribes the pattern.
   */
  async syncSubscriptions(force = false): Promise<void> {
    if (this.subscribing && !force) return this.subscribing;
    if (this.state === 'closed' || this.subClient.status !== 'ready' || !this.subReady) return;
    const wanted = new Set(this.host.fanoutPatterns());
    const add = [...wanted].filter((p) => !this.subscribed.has(p));
    const remove = [...this.subscribed].filter((p) => !wanted.has(p));
    if (!add.length && !remove.length) return;
    this.subscribing = (async () => {
      try {
        for (const p of add) this.subscribed.add(p);
        for (const p of remove) this.subscribed.delete(p);
        if (add.length) await this.subClient.psubscribe(...add);
        if (remove.length) await this.subClient.punsubscribe(...remove);
      } catch (error) {
        for (const p of add) this.subscribed.delete(p);
        if (this.state !== 'closed') this.host.onError(error as Error);
      } finally {
        this.subscribing = undefined;
      }
    })();
    return this.subscribing;
  }

  /** Kombu's health check on the pub/sub link, on the poll connection too (see LinkWatch). */
  async checkHealth(): Promise<void> {
    if (this.state === 'closed') return;
    await this.links.checkHealth();
  }

  get trackingState(): 'unknown' | 'on' | 'unsupported' {
    return this.tracking;
  }

  /** Messages popped (and recorded) but not yet handed to the channel. */
  takeUndelivered(): PoppedEntry[] {
    const rest = this.popped;
    this.popped = [];
    return rest;
  }

  /** Whether popped entries were recorded in unacked (the pops ran with record on). */
  recordedPops = true;

  /** Stops delivering through the hub (the hub poller was stopped). */
  detach(): void {
    this.hub?.removeReader(this);
    this.hub = undefined;
  }

  close(): void {
    this.state = 'closed';
    this.links.close();
    this.waitTimer?.cancel();
    this.hub?.removeReader(this);
  }
}
