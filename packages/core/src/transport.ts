/**
 * The transport interface (SPI). Core never imports a transport: a transport package implements
 * these interfaces and registers itself under one or more URL schemes with
 * `registerTransport` (see `transport-registry.ts`).
 */
import type { Hub } from '@kelp/hub';
import type { TransportAdmin } from './admin-types.js';
import type { Delivery, OutboundMessage, PublishResult } from './message-types.js';
import type { BasicPublishOptions } from './publish-confirm.js';

export type ExchangeType = 'direct' | 'topic' | 'fanout';

export interface ExchangeDeclareOptions {
  type: ExchangeType;
  durable?: boolean;
  autoDelete?: boolean;
  /** Only check that the exchange exists (was declared in this process); never create it. */
  passive?: boolean;
  arguments?: Record<string, unknown>;
}

export interface QueueDeclareOptions {
  passive?: boolean;
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  arguments?: Record<string, unknown>;
  /** The largest priority the queue's consumers expect (informational on virtual transports). */
  maxPriority?: number;
}

export interface QueueDeclareResult {
  queue: string;
  messageCount: number;
  consumerCount: number;
}

export interface BasicConsumeOptions {
  noAck?: boolean;
  consumerTag?: string;
  /** Called once per delivered message, in delivery order. */
  onDelivery: (delivery: Delivery) => void;
}

/** Lifecycle states, explicit as in ioredis. */
export type ChannelState = 'open' | 'closing' | 'closed';
/**
 * The lifecycle of a link to the broker, one set of names for a `Connection` and its transport:
 * `connected` once established, `reconnecting` while a link is down and being re-established,
 * back to `connected` when every link is up again.
 */
export type LinkState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closing' | 'closed';
export type TransportState = LinkState;

/**
 * An AMQP-like channel. The virtual transports implement it once (`@kelp/virtual`) on top of
 * storage hooks. Delivery tags are Kombu's UUID strings.
 */
export interface Channel {
  readonly channelId: number;
  readonly state: ChannelState;

  exchangeDeclare(exchange: string, options: ExchangeDeclareOptions): Promise<void>;
  exchangeDelete(exchange: string, options?: { ifUnused?: boolean }): Promise<void>;
  queueDeclare(queue: string, options?: QueueDeclareOptions): Promise<QueueDeclareResult>;
  queueBind(queue: string, exchange: string, routingKey: string, args?: Record<string, unknown>): Promise<void>;
  queueUnbind(queue: string, exchange: string, routingKey: string, args?: Record<string, unknown>): Promise<void>;
  /** Removes every waiting message; resolves with how many were removed. */
  queuePurge(queue: string): Promise<number>;
  /** Deletes the queue; resolves with how many messages it held. */
  queueDelete(queue: string, options?: { ifUnused?: boolean; ifEmpty?: boolean }): Promise<number>;

  /**
   * Resolves once the transport has stored the message (or says why it could not be routed),
   * and with `confirm` once enough replicas acknowledged it.
   */
  basicPublish(message: OutboundMessage, exchange: string, routingKey: string, options?: BasicPublishOptions): Promise<PublishResult>;
  /** Takes one message without waiting; `undefined` when the queue is empty. */
  basicGet(queue: string, options?: { noAck?: boolean }): Promise<Delivery | undefined>;
  /** Starts consuming `queue`; resolves with the consumer tag. */
  basicConsume(queue: string, options: BasicConsumeOptions): Promise<string>;
  /** Stops a consumer. Unknown tags are ignored. */
  basicCancel(consumerTag: string): Promise<void>;
  basicAck(deliveryTag: string): Promise<void>;
  /** `requeue: true` puts the message back at the back of its queue (Kombu's LPUSH). */
  basicReject(deliveryTag: string, requeue: boolean): Promise<void>;
  /**
   * Hands delivered-but-unacked messages back to the head of their queues (next to be consumed),
   * marked redelivered. Used for prefetched messages nobody processed.
   */
  basicRestore(deliveryTags: readonly string[]): Promise<void>;
  /** Restores every unacked message of this channel (`requeue` must be true, as in Kombu). */
  basicRecover(requeue?: boolean): Promise<void>;
  /** Sets the prefetch count (0 = unlimited). */
  basicQos(prefetchCount: number): Promise<void>;
  /**
   * Moves the message's visibility deadline `seconds` into the future, so no restore sweep
   * redelivers it while it is being worked on.
   */
  extendVisibility?(deliveryTag: string, seconds: number): Promise<void>;
  /**
   * Settles a delivered message by moving it, with `reason` and its original bytes, to its
   * queue's dead-letter list (used for content the consumer cannot decode or does not accept).
   */
  basicDeadLetter?(deliveryTag: string, reason: string): Promise<void>;
  /**
   * True when `basicReject(tag, false)` moves a message of `queue` to a dead-letter list rather
   * than dropping it (the queue has dead-letter routing).
   */
  deadLetters?(queue: string): boolean;

  /** Cancels consumers, restores unacked messages, releases resources. Idempotent. */
  close(): Promise<void>;
}

export interface TransportCapabilities {
  exchangeTypes: readonly ExchangeType[];
  priority: boolean;
  /** Unacked messages survive the consumer and are restored after a visibility timeout. */
  visibilityTimeout: boolean;
  /** True if the broker lives outside this process. */
  remote: boolean;
}

/** Events a transport reports. */
export interface TransportEvents {
  /** A message was handed to a consumer callback. */
  delivery: [delivery: Delivery];
  /** The link to the broker was lost; the transport will try to reconnect. */
  connectionLost: [error: Error];
  /** The transport is connected again (consumers resumed). */
  reconnected: [];
  /** The transport's `state` changed (e.g. `connected` -> `reconnecting` when a link drops). */
  stateChange: [state: TransportState, previous: TransportState];
  /** A message could not be used and was moved to a dead-letter list. */
  deadLettered: [info: { queue: string; reason: string }];
  /**
   * A message's TTL had passed when a consumer would have received it: it went to the queue's
   * dead-letter list (reason `expired`, also reported as `deadLettered`) or, without dead-letter
   * routing, was dropped and counted (`inspect`).
   */
  expired: [info: ExpiredInfo];
  /** An error that did not belong to any caller (a failed background step). */
  error: [error: Error];
}

/** One message a consumer did not receive because its TTL had passed. */
export interface ExpiredInfo {
  queue: string;
  /** True: moved to the dead-letter list; false: dropped and counted. */
  deadLettered: boolean;
}

export type TransportEventName = keyof TransportEvents;

export interface Transport {
  /** Short name, e.g. `memory` or `redis`. */
  readonly driverName: string;
  readonly capabilities: TransportCapabilities;
  readonly state: TransportState;

  /** Establishes (and verifies) the connection. Throws `OperationalError` on failure. */
  connect(signal?: AbortSignal): Promise<void>;
  createChannel(): Promise<Channel>;
  /** Closes every channel (restoring their unacked messages) and the connection. Idempotent. */
  close(): Promise<void>;

  /**
   * Attaches the consume machinery (pollers, restore sweeps, health checks) to `hub`.
   * All deliveries then happen from hub callbacks.
   */
  registerWithEventLoop(hub: Hub): void;

  /** Operator tools (inspect, restore, dead letters), where the transport has them. */
  readonly admin?: TransportAdmin;

  /** Errors that reconnecting may fix (Kombu's `connection_errors`). */
  isConnectionError(error: unknown): boolean;
  /** Errors that a new channel may fix (Kombu's `channel_errors`). */
  isChannelError(error: unknown): boolean;

  on<E extends TransportEventName>(event: E, listener: (...args: TransportEvents[E]) => void): this;
  off<E extends TransportEventName>(event: E, listener: (...args: TransportEvents[E]) => void): this;
}
