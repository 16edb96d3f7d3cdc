/**
 * The shapes exchanged between `VirtualChannel` and a transport's `ChannelStorage` and pollers.
 */
import type { ExpiredInfo } from '@kelp/core';

/** A message taken from storage: the queue it came from (the logical name) and its raw envelope JSON. */
export interface GetResult {
  queue: string;
  payload: string;
  /**
   * The tag the storage recorded the message under, when it parsed one itself (e.g. Redis's Lua
   * accepts `NaN` that JSON.parse refuses): lets the channel settle a record it cannot parse.
   */
  deliveryTag?: string;
}

export interface GetOptions {
  /**
   * When false the storage must record the message as unacked in the same atomic step as the pop
   * (tag, exchange and routing key come from the envelope; see `readAckInfo`). A payload without a
   * delivery tag cannot be recorded and is returned as is: the channel dead-letters it.
   */
  noAck: boolean;
  /**
   * What happens to a message whose TTL has passed when it is taken (message-expiry.ts): never
   * returned, it goes to the dead-letter list or is dropped and counted, and is reported. Without
   * this the storage treats every queue as having no dead-letter routing.
   */
  expiry?: ExpiryHandling;
}

/** How a take settles expired messages; the channel provides it from its dead-letter policy. */
export interface ExpiryHandling {
  /** True when `queue` has dead-letter routing: an expired message is dead-lettered, not dropped. */
  deadLetters(queue: string): boolean;
  /** One expired message was settled by the storage. */
  report(info: ExpiredInfo): void;
}

export interface RestoreOptions {
  /**
   * true: push at the back of the FIFO (Kombu LPUSH, used by reject-with-requeue);
   * false: push at the head, so it is consumed next (Kombu RPUSH, used by restores).
   */
  leftmost: boolean;
}

/**
 * Kombu `_lookup` for restores: the queues a message published to `exchange` with `routingKey`
 * goes to now (bindings read from storage, type from the local declaration), or the
 * `deadletterQueue` when nothing matches; empty when there is no route at all.
 */
export type RouteResolver = (exchange: string, routingKey: string, envelopeJson: string) => Promise<readonly string[]>;

/** What `UnackedStore.restore` did with one tag. */
export type RestoreOutcome =
  /** The entry was removed and the redelivery-marked envelope pushed to these queues. */
  | { status: 'restored'; deliveryTag: string; queues: readonly string[] }
  /** No unacked entry (already acked or restored by someone else): nothing happened. */
  | { status: 'missing'; deliveryTag: string }
  /**
   * The entry was removed but the resolver found no queue. The store returns the marked envelope
   * so the channel can dead-letter it (kelp never drops a message silently, unlike Kombu).
   */
  | { status: 'unroutable'; deliveryTag: string; envelope: string; exchange: string; routingKey: string }
  /**
   * The entry was removed and, having no route, stored in `queue`'s dead-letter list by the store
   * itself in the same atomic step (so no crash can lose it between the two).
   */
  | { status: 'dead-lettered'; deliveryTag: string; queue: string; reason: string };

/** Where `UnackedDeadLetters.moveToDeadLetters` put a message. */
export interface DeadLetterOutcome {
  queue: string;
}

/** A message a poller took from storage and has not yet handed to the channel. */
export interface PendingDelivery {
  queue: string;
  payload: string;
  /** True when the storage already holds the unacked record (popped with `noAck: false`). */
  recorded: boolean;
  /** The tag of that record, when the storage says (see GetResult.deliveryTag). */
  deliveryTag?: string;
}

export interface IncomingOptions {
  /** True when the unacked record was written together with the pop. */
  recorded: boolean;
  /** The tag of that record, when the storage knows it (see GetResult.deliveryTag). */
  deliveryTag?: string;
}
