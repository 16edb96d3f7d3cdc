/**
 * The consume loop of the sharded cluster layout: the virtual layer's GenericPoller (each tick,
 * every consuming channel with QoS room takes messages through `ShardedStorage.getMany`, which
 * pipelines one pop-and-record per queue on each queue's master) plus a fallback timer. The
 * GenericPoller's delayed mover moves due delayed messages through the channels' shared
 * ShardedDelayed (every master, queue by queue).
 *
 * Why not the ChannelPoller of redis://: its wait is one blocking pop (or one tracked pop script)
 * over all of a channel's queues, and in this layout two queues are in two slots, so neither
 * `BRPOP` nor one script can cover them (`CROSSSLOT`). Here a channel polls when something wakes
 * it: a local publish, ack or new consumer, or a CLIENT TRACKING invalidation from the master of
 * a consumed queue (sharded-tracking.ts), which announces a message published by any process.
 * The `brpopTimeout` timer (`pollingInterval`) is the fallback: each tick polls unless tracking
 * covers every consumed queue (`covered`), and after a failed poll whatever tracking says (the
 * poll is not retried otherwise). Without tracking (refused, reconnecting, `clientTracking:
 * false`) a message published by another process waits up to that interval.
 *
 * Covered, the timer still polls once per COVERED_CHECK_MS: nothing tells an idle consumer that
 * a resharding moved a consumed queue's slot away from the master it tracks (an empty queue has
 * no key to migrate, so no invalidation), and that poll meets `MOVED`, which reloads the slot
 * map, which moves the tracking to the new master.
 */
import { type EventLoopHub, type HubTimer, type PendingDelivery, type Poller, type PollerHost, type VirtualChannel } from '@kelp/virtual';
import { GenericPoller } from '@kelp/virtual/internal';

/** How often the timer polls although tracking covers every queue (a slot moved, an invalidation lost). */
export const COVERED_CHECK_MS = 5000;

export interface ShardedPollerOptions {
  /** Time between two polls when nothing wakes the loop earlier (brpopTimeout). */
  pollIntervalMs: number;
  /** Whether every consumed queue's writes are announced now (then a timer tick need not poll). */
  covered?(): boolean;
  /** Called once the loop runs, and on stop (fanout subscriptions follow the loop). */
  onStart?(): void;
  onStop?(): void;
  /** Called on every hub tick while the loop runs (must be cheap: fanout re-syncs on a bindings change). */
  onTick?(): void;
}

export class ShardedPoller implements Poller {
  private readonly generic: GenericPoller;
  private timer: HubTimer | undefined;
  private removeTick: (() => void) | undefined;
  /** Something failed since the last timer tick (a poll, perhaps): the next tick polls anyway. */
  private failedSinceTick = false;
  /** Timer ticks skipped in a row because tracking covered every queue. */
  private restedTicks = 0;

  constructor(
    host: PollerHost,
    private readonly hub: EventLoopHub,
    private readonly options: ShardedPollerOptions,
  ) {
    // A failed poll is not retried by the GenericPoller until something wakes it; with tracking
    // covering every queue the timer must then poll, or the messages it missed would wait.
    const watched: PollerHost = {
      get capabilities() {
        return host.capabilities;
      },
      get options() {
        return host.options;
      },
      openChannels: () => host.openChannels(),
      reportError: (error: unknown) => {
        this.failedSinceTick = true;
        host.reportError(error);
      },
    };
    this.generic = new GenericPoller(watched, hub);
  }

  start(): void {
    if (this.timer) return;
    this.generic.start();
    this.timer = this.hub.callRepeatedly(this.options.pollIntervalMs, () => this.onTimer());
    const onTick = this.options.onTick;
    if (onTick) this.removeTick = this.hub.onTick(() => onTick());
    this.options.onStart?.();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.removeTick?.();
    this.removeTick = undefined;
    this.generic.stop();
    this.options.onStop?.();
  }

  wake(): void {
    this.generic.wake();
  }

  private onTimer(): void {
    const failed = this.failedSinceTick;
    this.failedSinceTick = false;
    const checkEvery = Math.max(1, Math.ceil(COVERED_CHECK_MS / this.options.pollIntervalMs));
    if (!failed && this.options.covered?.() === true && ++this.restedTicks < checkEvery) return;
    this.restedTicks = 0;
    this.generic.wake();
  }

  delayedStored(dueAtMs: number): void {
    this.generic.delayedStored(dueAtMs);
  }

  detachChannel(channel: VirtualChannel): Promise<PendingDelivery[]> {
    return this.generic.detachChannel(channel);
  }
}
