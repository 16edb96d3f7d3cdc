/**
 * `MultiChannelPoller`: the Redis transport's consume machinery on a Hub (Kombu's
 * MultiChannelPoller + `register_with_event_loop`, docs/kombu-compatibility.md#the-hub). Per
 * channel the real work is in {@link ChannelPoller}; this class drives them from the Hub's tick and
 * owns the timers: the startup + repeated visibility restore (throttled 1-in-N like Kombu), the
 * subscriber health check and the delayed mover (due `countdown` / `eta` messages into their queues).
 */
import { type DelayedDelivery, DelayedMover, startQueueTouches, type EventLoopHub, type HubTimer, type PendingDelivery, type Poller, type VirtualChannel } from '@kelp/virtual';
import type { ChannelPoller } from './channel-poller.js';

export interface MultiChannelPollerHost {
  readonly restoreIntervalMs: number;
  readonly restoreThrottle: number;
  readonly healthCheckIntervalMs: number;
  /** PINGs the transport's shared connections, command and confirm (replaced when a PONG is missing). */
  checkSharedHealth(): void;
  channelPollers(): Iterable<ChannelPoller>;
  pollerOf(channel: VirtualChannel): ChannelPoller | undefined;
  /** The queue a list key belongs to. */
  queueFromKey(key: string): string;
  openChannels(): readonly VirtualChannel[];
  reportError(error: unknown): void;
  /** Where the delayed mover moves due messages; without it this poller runs no mover. */
  delayedStorage?(): DelayedDelivery | undefined;
  /** Keeps the consumed queues in use (x-expires); called every QUEUE_TOUCH_TICK_MS when given. */
  touchConsumedQueues?(): void;
}

export class MultiChannelPoller implements Poller {
  private started = false;
  private removeTick: (() => void) | undefined;
  private timers: HubTimer[] = [];
  private stopTouches: (() => void) | undefined;
  private restoreCalls = 0;
  private sweeping: Promise<unknown> | undefined;
  private readonly mover: DelayedMover | undefined;

  constructor(
    private readonly host: MultiChannelPollerHost,
    readonly hub: EventLoopHub,
  ) {
    const delayedStorage = host.delayedStorage?.bind(host);
    this.mover =
      delayedStorage &&
      new DelayedMover(
        {
          delayedStorage,
          // A push to a list wakes the pollers through client tracking or their blocking wait.
          moved: () => undefined,
          reportError: (error) => host.reportError(error),
        },
        hub,
      );
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const poller of this.host.channelPollers()) poller.attach(this.hub);
    this.removeTick = this.hub.onTick(() => {
      for (const poller of this.host.channelPollers()) poller.onTick();
    });
    // Kombu scans once when registering (on_poll_init), then on a timer. Timers are re-created
    // on every registration and cancelled on stop, so a reconnect never stacks them (HEAD fix).
    this.timers.push(this.hub.callSoon(() => this.maybeRestoreMessages()));
    if (this.host.restoreIntervalMs > 0) {
      this.timers.push(this.hub.callRepeatedly(this.host.restoreIntervalMs, () => this.maybeRestoreMessages()));
    }
    if (this.host.healthCheckIntervalMs > 0) {
      this.timers.push(this.hub.callRepeatedly(this.host.healthCheckIntervalMs, () => this.checkHealth()));
    }
    // The delayed mover runs wherever the restore sweep does: in every process running a hub.
    this.mover?.start();
    // A Node interval, not a hub timer: the touches go on while the hub is not run (queue-expiry.ts).
    const touch = this.host.touchConsumedQueues?.bind(this.host);
    if (touch) this.stopTouches = startQueueTouches(touch);
    this.wake();
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.removeTick?.();
    this.removeTick = undefined;
    for (const timer of this.timers) timer.cancel();
    this.timers = [];
    this.stopTouches?.();
    this.stopTouches = undefined;
    this.mover?.stop();
    for (const poller of this.host.channelPollers()) poller.detach();
  }

  delayedStored(dueAtMs: number): void {
    this.mover?.dueAt(dueAtMs);
  }

  /** Attaches a channel poller created after start. */
  adopt(poller: ChannelPoller): void {
    if (this.started) poller.attach(this.hub);
  }

  wake(): void {
    if (this.started) this.hub.callSoon(() => undefined);
  }

  async detachChannel(channel: VirtualChannel): Promise<PendingDelivery[]> {
    const poller = this.host.pollerOf(channel);
    if (!poller) return [];
    await poller.settled();
    const out: PendingDelivery[] = [];
    for (const { entry, recorded } of poller.takeUndelivered()) {
      if (entry.kind !== 'message') continue;
      const queue = this.host.queueFromKey(entry.key);
      out.push({ queue, payload: entry.payload, recorded, deliveryTag: entry.deliveryTag });
    }
    return out;
  }

  /**
   * Kombu's throttle: only calls 1, N+1, 2N+1, ... scan (N = unackedRestoreThrottle, 0 = every
   * call), giving one scan at start-up and then one every interval x N seconds.
   */
  maybeRestoreMessages(): void {
    if (this.sweeping) return;
    const channel = this.host.openChannels().find((c) => c.state === 'open');
    if (!channel) return;
    const throttle = Math.max(1, this.host.restoreThrottle);
    const call = this.restoreCalls++;
    if (call % throttle !== 0) return;
    this.sweeping = channel
      .restoreVisible()
      .catch((error: unknown) => this.host.reportError(error))
      .finally(() => {
        this.sweeping = undefined;
      });
  }

  private checkHealth(): void {
    this.host.checkSharedHealth();
    for (const poller of this.host.channelPollers()) void poller.checkHealth();
  }
}
