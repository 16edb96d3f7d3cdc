/**
 * The consume loop for brokers without a blocking pop (memory://), driven by the Hub. Each tick it
 * asks every channel that has consumers and QoS room for messages (in the channel's cycle order),
 * buffers them and delivers from a Hub reader callback, so deliveries happen inside the loop as
 * the contract requires. With nothing to read it stays idle until `wake()` (a put, an ack, a new
 * consumer) instead of polling in a busy loop. The Redis transport replaces it with its own poller.
 */
import { DelayedMover } from './delayed-mover.js';
import { startQueueTouches } from './queue-expiry.js';
import type { EventLoopHub, HubTimer } from './event-loop-hub.js';
import type { PendingDelivery } from './storage-types.js';
import type { VirtualChannel } from './virtual-channel.js';

export type { EventLoopHub, HubTimer } from './event-loop-hub.js';

/** What the transport offers its poller. */
export interface PollerHost {
  readonly capabilities: { readonly visibilityTimeout: boolean };
  readonly options: { readonly unackedRestoreInterval: number; readonly pollBatchSize: number };
  openChannels(): readonly VirtualChannel[];
  reportError(error: unknown): void;
}

/** The consume machinery a transport installs on a Hub. */
export interface Poller {
  start(): void;
  stop(): void;
  /** Something changed that may allow a delivery; poll again soon. */
  wake(): void;
  /** Forgets `channel`; resolves with messages taken for it and not yet delivered. */
  detachChannel(channel: VirtualChannel): Promise<PendingDelivery[]>;
  /** A delayed message due at `dueAtMs` was stored by this process (delayed-mover.ts). */
  delayedStored?(dueAtMs: number): void;
}

export class GenericPoller implements Poller {
  private readonly pending = new Map<VirtualChannel, PendingDelivery[]>();
  /** The readiness source whose reader delivers buffered messages. */
  private readonly source = { name: 'kelp-generic-poller' };
  private pumping: Promise<void> | undefined;
  private sweeping: Promise<void> | undefined;
  private dirty = true;
  private wakeScheduled = false;
  private started = false;
  private removeTick: (() => void) | undefined;
  private restoreTimer: HubTimer | undefined;
  private stopTouches: (() => void) | undefined;
  /** Moves due delayed messages into their queues while the poller runs, as the restore sweep does. */
  private readonly mover: DelayedMover;

  constructor(
    private readonly host: PollerHost,
    private readonly hub: EventLoopHub,
  ) {
    this.mover = new DelayedMover(
      {
        delayedStorage: () => this.host.openChannels().find((c) => c.state === 'open')?.delayedDelivery,
        moved: () => this.wake(),
        reportError: (error) => this.host.reportError(error),
      },
      hub,
    );
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.mover.start();
    // Consumers keep their queues in use (x-expires), between the pops an idle queue never gets.
    this.stopTouches = startQueueTouches(() => {
      for (const channel of this.host.openChannels()) channel.touchConsumedQueues().catch((error: unknown) => this.host.reportError(error));
    });
    this.removeTick = this.hub.onTick(() => this.onTick());
    this.hub.addReader(this.source, () => this.deliverPending());
    if (this.host.capabilities.visibilityTimeout) {
      // Once at start (Kombu `on_poll_init`), then every unackedRestoreInterval seconds.
      this.hub.callSoon(() => this.restoreSweep());
      this.restoreTimer = this.hub.callRepeatedly(this.host.options.unackedRestoreInterval * 1000, () => this.restoreSweep());
    }
    this.wake();
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.removeTick?.();
    this.removeTick = undefined;
    this.restoreTimer?.cancel();
    this.restoreTimer = undefined;
    this.mover.stop();
    this.stopTouches?.();
    this.stopTouches = undefined;
    this.hub.removeReader(this.source);
  }

  delayedStored(dueAtMs: number): void {
    this.mover.dueAt(dueAtMs);
  }

  wake(): void {
    this.dirty = true;
    if (!this.started || this.pumping || this.wakeScheduled) return;
    // An empty callSoon is how a sleeping Hub is woken; the onTick of that iteration polls.
    this.wakeScheduled = true;
    this.hub.callSoon(() => {
      this.wakeScheduled = false;
    });
  }

  async detachChannel(channel: VirtualChannel): Promise<PendingDelivery[]> {
    // A poll in flight may still hand messages to this channel; wait for it so none is stranded.
    while (this.pumping) await this.pumping;
    const items = this.pending.get(channel) ?? [];
    this.pending.delete(channel);
    return items;
  }

  private onTick(): void {
    this.wakeScheduled = false;
    if (!this.started || !this.dirty || this.pumping) return;
    this.dirty = false;
    this.pumping = this.pump()
      .catch((error: unknown) => this.host.reportError(error))
      .finally(() => {
        this.pumping = undefined;
        if (this.dirty) this.wake();
      });
  }

  private async pump(): Promise<void> {
    let took = false;
    for (const channel of this.host.openChannels()) {
      if (!channel.hasConsumers || channel.state !== 'open') continue;
      const buffered = (this.pending.get(channel) ?? []).filter((item) => item.recorded).length;
      const room = Math.min(channel.qos.capacity() - buffered, this.host.options.pollBatchSize);
      if (room <= 0) continue;
      const items = await channel.fetch(room);
      if (items.length === 0) continue;
      took = true;
      const list = this.pending.get(channel);
      if (list) list.push(...items);
      else this.pending.set(channel, items);
    }
    if (took) {
      // There may be more: poll again next iteration, after the reader delivered these.
      this.dirty = true;
      this.hub.notifyReadable(this.source);
    }
  }

  private deliverPending(): void {
    const batches = [...this.pending];
    this.pending.clear();
    for (const [channel, items] of batches) {
      for (const item of items) {
        channel
          .handleIncoming(item.queue, item.payload, { recorded: item.recorded, deliveryTag: item.deliveryTag })
          .catch((error: unknown) => this.host.reportError(error));
      }
    }
  }

  private restoreSweep(): void {
    if (this.sweeping) return;
    const channel = this.host.openChannels().find((c) => c.state === 'open');
    if (!channel) return;
    this.sweeping = channel
      .restoreVisible()
      .then(() => undefined)
      .catch((error: unknown) => this.host.reportError(error))
      .finally(() => {
        this.sweeping = undefined;
      });
  }
}
