/**
 * `ChannelHost`: what a channel needs from its transport (implemented by `VirtualTransport`).
 * Generic in the channel type so this file needs no import of the channel (no import cycle).
 */
import type { Delivery, ExpiredInfo } from '@kelp/core';
import type { BrokerState } from './exchange.js';
import type { VirtualTransportOptions } from './options.js';
import type { PendingDelivery } from './storage-types.js';

/** The host's reports, all a collaborator of the channel (admission, restores) may use. */
export interface ChannelReports {
  /** Something changed that may let a poller deliver (put, ack, new consumer, qos). */
  wake(): void;
  reportDeadLettered(info: { queue: string; reason: string }): void;
  /** A message's TTL had passed when it was taken (see message-expiry.ts). */
  reportExpired(info: ExpiredInfo): void;
  reportError(error: unknown): void;
}

export interface ChannelHost<TChannel> extends ChannelReports {
  readonly options: VirtualTransportOptions;
  readonly brokerState: BrokerState;
  /** Consumers of `queue` on every open channel of the transport. */
  consumerCount(queue: string): number;
  notifyDelivery(delivery: Delivery): void;
  /** The set of queues `channel` consumes changed (e.g. to start or resubscribe its poll connections). */
  consumersChanged(channel: TChannel): void;
  /** Forgets the channel; resolves with messages a poller took for it and never delivered. */
  detachChannel(channel: TChannel): Promise<PendingDelivery[]>;
  /** A delayed message due at `dueAtMs` was stored through `channel` (the mover may wake for it). */
  delayedStored?(dueAtMs: number): void;
  /** Releases what the transport holds for `channel`, once its messages are back in storage. */
  releaseChannel(channel: TChannel): Promise<void>;
}
