/**
 * The transport-neutral shapes of a message on its way in and out. A transport turns an
 * {@link OutboundMessage} into its wire format (for Redis: Kombu's JSON envelope) and hands
 * consumers {@link Delivery} objects, which `Message` wraps.
 */

/** A JSON-compatible header value (AMQP header table entry). */
export type HeaderValue =
  | string
  | number
  | boolean
  | null
  | readonly HeaderValue[]
  | { readonly [key: string]: HeaderValue };

export type Headers = Record<string, HeaderValue>;

/**
 * AMQP basic properties in camelCase. On the Kombu wire they are snake_case
 * (`correlation_id`, `reply_to`, ...); the envelope codec maps them. Keys it does not know are
 * carried as they are.
 */
export interface MessageProperties {
  /** 0-9. On Redis, 0 is consumed first (Kombu's inverted priority). */
  priority?: number;
  /** 2 = persistent (default), 1 = transient. Recorded, not enforced by virtual transports. */
  deliveryMode?: 1 | 2;
  /** Per-message TTL in milliseconds as a decimal string (AMQP style). Recorded, not enforced. */
  expiration?: string;
  correlationId?: string;
  replyTo?: string;
  messageId?: string;
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  /** Any other property, copied to the wire verbatim. */
  [extra: string]: HeaderValue | undefined;
}

/** A serialized (and possibly compressed) message ready for `Channel.basicPublish`. */
export interface OutboundMessage {
  /** The serialized, possibly compressed body bytes. */
  body: Uint8Array;
  contentType: string;
  contentEncoding: string;
  headers: Headers;
  properties: MessageProperties;
}

export interface DeliveryInfo {
  exchange: string;
  routingKey: string;
  /** True when the message was put back (requeue, restore) and delivered again. */
  redelivered: boolean;
  /** The queue the message was taken from. */
  queue?: string;
  consumerTag?: string;
}

/** A message as a transport delivers it (before content decoding). */
export interface Delivery {
  /** Body bytes as published: serialized and possibly still compressed. */
  body: Uint8Array;
  contentType: string | null;
  contentEncoding: string | null;
  headers: Headers;
  properties: MessageProperties;
  deliveryInfo: DeliveryInfo;
  /** Kombu delivery tag: a UUID4 string fixed at publish time, unchanged on redelivery. */
  deliveryTag: string;
  /** True when the consumer or get asked for no acknowledgement. */
  noAck: boolean;
}

/** What became of a publish. Never silently dropped: the caller sees where it went. */
export interface PublishResult {
  /**
   * - `routed`: stored in at least one queue (or, for fanout, sent to the channel).
   * - `dead-lettered`: no binding matched; stored in the transport's dead-letter queue.
   * - `unroutable`: no binding matched and no dead-letter queue is configured; nothing stored.
   * - `rejected`: a queue at its length limit with `x-overflow: reject-publish` refused it (see
   *   `rejected`); `queues` lists the queues that did store it, if any.
   */
  status: 'routed' | 'dead-lettered' | 'unroutable' | 'rejected';
  /** Queues the message was stored in (empty for fanout and unroutable). */
  queues: readonly string[];
  /** With status `rejected`: the queues whose length limit refused the message. */
  rejected?: readonly string[];
  /** For fanout over pub/sub: how many subscribers received it, when the transport knows. */
  subscribers?: number;
  /** The delivery tag given to the message. */
  deliveryTag: string;
  /**
   * With `countdown` / `eta` (or `deliverAt`) in the future: the due time in epoch ms. The
   * message waits in the delayed sets of `queues` until then.
   */
  deliverAt?: number;
  /**
   * With `confirm`: how many replicas acknowledged the write (at least the number asked for).
   * Absent when nothing was stored to confirm (a fanout broadcast, an unroutable message).
   */
  replicas?: number;
}
