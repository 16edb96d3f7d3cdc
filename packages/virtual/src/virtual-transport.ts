/**
 * `VirtualTransport`: the transport half written once. It owns the lifecycle state machine, the
 * channels and their ids, the typed events and the consume machinery on the Hub. A broker
 * subclass supplies `establish`/`teardown`, `openChannel` (a `VirtualChannel` over its storage)
 * and, if it has a better way to wait for messages than the generic poller, `createPoller`.
 */
import type { Delivery, ExpiredInfo, TransportCapabilities, TransportEvents, TransportState, Transport } from '@kelp/core';
import { ChannelError, LimitExceeded, OperationalError, throwIfAborted } from '@kelp/core';
import { BrokerState } from './exchange.js';
import { type EventLoopHub, GenericPoller, type Poller } from './generic-poller.js';
import type { VirtualTransportOptions } from './options.js';
import type { PendingDelivery } from './storage-types.js';
import { TypedEmitter } from './typed-emitter.js';
import type { ChannelHost } from './channel-host.js';
import type { VirtualChannel } from './virtual-channel.js';

/** AMQP's channel id range (Kombu `channel_max`). */
export const CHANNEL_MAX = 65535;

export interface VirtualTransportInit {
  options: VirtualTransportOptions;
  /** Exchange declarations to use; a fresh per-transport state when omitted. */
  brokerState?: BrokerState;
  /** Shown in NOT_FOUND messages (`in vhost '<vhost>'`). */
  virtualHost?: string;
}

export abstract class VirtualTransport implements Transport, ChannelHost<VirtualChannel> {
  abstract readonly driverName: string;
  abstract readonly capabilities: TransportCapabilities;
  readonly options: VirtualTransportOptions;
  readonly brokerState: BrokerState;
  protected readonly events = new TypedEmitter<TransportEvents>();
  private currentState: TransportState = 'idle';
  protected readonly channels = new Map<number, VirtualChannel>();
  protected hub: EventLoopHub | undefined;
  protected poller: Poller | undefined;
  private nextChannelId = 1;
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(init: VirtualTransportInit) {
    this.options = init.options;
    this.brokerState = init.brokerState ?? new BrokerState(init.virtualHost ?? '/');
  }

  /** Connects to the broker (verify it answers). Throw OperationalError on failure. */
  protected abstract establish(signal?: AbortSignal): Promise<void>;
  /** Releases the broker connection after every channel is closed. */
  protected abstract teardown(): Promise<void>;
  /** Builds a channel with the given id (called once the transport is ready). */
  protected abstract openChannel(channelId: number): Promise<VirtualChannel> | VirtualChannel;
  /** The consume machinery for `hub`; override to replace the generic polling loop. */
  protected createPoller(hub: EventLoopHub): Poller {
    return new GenericPoller(this, hub);
  }

  get state(): TransportState {
    return this.currentState;
  }

  /** Moves to `next` and emits 'stateChange' when that is a change. */
  protected setState(next: TransportState): void {
    const previous = this.currentState;
    if (previous === next) return;
    this.currentState = next;
    this.events.emit('stateChange', next, previous);
  }

  async connect(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    if (this.currentState === 'connected' || this.currentState === 'reconnecting') return;
    if (this.currentState === 'closing' || this.currentState === 'closed') {
      throw new OperationalError(`The ${this.driverName} transport is closed; create a new Connection`);
    }
    this.connecting ??= (async () => {
      this.setState('connecting');
      try {
        await this.establish(signal);
        this.setState('connected');
      } catch (error) {
        this.setState('idle');
        throw error;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  async createChannel(): Promise<VirtualChannel> {
    await this.connect();
    const id = this.allocateChannelId();
    const channel = await this.openChannel(id);
    this.channels.set(id, channel);
    return channel;
  }

  private allocateChannelId(): number {
    if (this.channels.size >= CHANNEL_MAX) {
      throw new LimitExceeded(`All ${CHANNEL_MAX} channel ids are in use; close channels you no longer need`);
    }
    while (this.channels.has(this.nextChannelId)) {
      this.nextChannelId = (this.nextChannelId % CHANNEL_MAX) + 1;
    }
    const id = this.nextChannelId;
    this.nextChannelId = (id % CHANNEL_MAX) + 1;
    return id;
  }

  /** Closes every channel (restoring unacked messages), stops polling, then disconnects. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.setState('closing');
      await Promise.allSettled([...this.channels.values()].map((channel) => channel.close()));
      this.poller?.stop();
      try {
        await this.teardown();
      } finally {
        this.setState('closed');
      }
    })();
    return this.closing;
  }

  /** Installs the poller (and restore sweep) on `hub`; registering again with another hub moves it. */
  registerWithEventLoop(hub: EventLoopHub): void {
    if (this.hub === hub && this.poller) return;
    this.poller?.stop();
    this.hub = hub;
    this.poller = this.createPoller(hub);
    this.poller.start();
  }

  /** Open channels in id order. */
  openChannels(): VirtualChannel[] {
    return [...this.channels.values()].filter((channel) => channel.state === 'open');
  }

  consumerCount(queue: string): number {
    let n = 0;
    for (const channel of this.channels.values()) n += channel.consumerCountFor(queue);
    return n;
  }

  /** Tells the poller something changed (brokers call this on put). @internal */
  wake(): void {
    this.poller?.wake();
  }

  /** Tells the poller's delayed mover of a message due at `dueAtMs` stored by this process. @internal */
  delayedStored(dueAtMs: number): void {
    this.poller?.delayedStored?.(dueAtMs);
  }

  /** @internal */
  notifyDelivery(delivery: Delivery): void {
    this.events.emit('delivery', delivery);
  }

  /** @internal */
  reportDeadLettered(info: { queue: string; reason: string }): void {
    this.events.emit('deadLettered', info);
  }

  /** @internal */
  reportExpired(info: ExpiredInfo): void {
    this.events.emit('expired', info);
  }

  /** Emits 'error'; kept in `lastError` when nobody listens. @internal */
  reportError(error: unknown): void {
    this.events.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  /** The last background error nobody listened to. */
  get lastError(): unknown {
    return this.events.lastError;
  }

  /** A channel's consumed queues changed; the generic poller needs no news beyond wake(). @internal */
  consumersChanged(_channel: VirtualChannel): void {}

  /** Nothing is held per channel beyond the poller's buffer (see detachChannel). @internal */
  async releaseChannel(_channel: VirtualChannel): Promise<void> {}

  /** @internal */
  async detachChannel(channel: VirtualChannel): Promise<PendingDelivery[]> {
    const pending = this.poller ? await this.poller.detachChannel(channel) : [];
    this.channels.delete(channel.channelId);
    return pending;
  }

  isConnectionError(error: unknown): boolean {
    return error instanceof OperationalError;
  }

  isChannelError(error: unknown): boolean {
    return error instanceof ChannelError;
  }

  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this {
    this.events.on(event, listener);
    return this;
  }

  once<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this {
    this.events.once(event, listener);
    return this;
  }

  off<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this {
    this.events.off(event, listener);
    return this;
  }
}
