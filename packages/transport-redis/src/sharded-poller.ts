/**
 * The consume loop of the sharded cluster layout: the virtual layer's GenericPoller (each tick,
 * every consuming channel with QoS room takes messages through `ShardedStorage.getMany`, which
 * pipelines one pop-and-record per queue on each queue's master) plus a wake-up timer. The
 * GenericPoller's delayed mover moves due delayed messages through the channels' shared
 * ShardedDelayed (every master, queue by queue).
 *
 * Why not the ChannelPoller of redis://: its wait is one blocking pop (or one tracked pop script)
 * over all of a channel's queues, and in this layout two queues are in two slots, so neither
 * `BRPOP` nor one script can cover them (`CROSSSLOT`). Here a channel waits for its next poll on
 * the `brpopTimeout` timer (`pollingInterval`), or until a local publish, ack or new consumer
 * wakes it; client tracking per master is not used yet, so a message published by another
 * process waits up to that interval.
 */
import { type EventLoopHub, type HubTimer, type PendingDelivery, type Poller, type PollerHost, type VirtualChannel } from '@kelp/virtual';
import { GenericPoller } from '@kelp/virtual/internal';

export interface ShardedPollerOptions {
  /** Time between two polls when nothing wakes the loop earlier (brpopTimeout). */
  pollIntervalMs: number;
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

  constructor(
    host: PollerHost,
    private readonly hub: EventLoopHub,
    private readonly options: ShardedPollerOptions,
  ) {
    this.generic = new GenericPoller(host, hub);
  }

  start(): void {
    if (this.timer) return;
    this.generic.start();
    this.timer = this.hub.callRepeatedly(this.options.pollIntervalMs, () => this.generic.wake());
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

  delayedStored(dueAtMs: number): void {
    this.generic.delayedStored(dueAtMs);
  }

  detachChannel(channel: VirtualChannel): Promise<PendingDelivery[]> {
    return this.generic.detachChannel(channel);
  }
}
