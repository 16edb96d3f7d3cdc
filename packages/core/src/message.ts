/**
 * A received message: the decoded content of a {@link Delivery} plus its acknowledgement state
 * machine (docs/kombu-compatibility.md#message-states): RECEIVED, then exactly one of ACK, REJECTED
 * or REQUEUED.
 */
import { defaultCompressors, type CompressionRegistry } from './compression/registry.js';
import { ChannelError, ConfigurationError, MessageStateError } from './errors.js';
import type { Delivery, DeliveryInfo, Headers, MessageProperties } from './message-types.js';
import { defaultSerializers } from './serialization/default-registry.js';
import type { SerializerRegistry } from './serialization/registry.js';
import type { Channel } from './transport.js';

export type MessageState = 'RECEIVED' | 'ACK' | 'REJECTED' | 'REQUEUED';

export interface MessageOptions {
  /** Content types (or serializer names) `decode()` accepts; undefined: every registered serializer. */
  accept?: readonly string[] | undefined;
  serializers?: SerializerRegistry;
  compressors?: CompressionRegistry;
}

const NOT_DECODED: unique symbol = Symbol('not decoded');

export class Message {
  readonly delivery: Delivery;
  /** The channel acks go to; undefined for a message built without one (acks then throw). */
  readonly channel: Channel | undefined;
  /** Errors found while building the message (decompression); `decode()` throws the first. */
  readonly errors: Error[] = [];
  private readonly accept: readonly string[] | undefined;
  private readonly serializers: SerializerRegistry;
  private readonly bodyBytes: Uint8Array;
  private decoded: unknown = NOT_DECODED;
  private lastDecodeError: unknown = undefined;
  private currentState: MessageState = 'RECEIVED';

  constructor(delivery: Delivery, channel: Channel | undefined, options: MessageOptions = {}) {
    this.delivery = delivery;
    this.channel = channel;
    this.accept = options.accept;
    this.serializers = options.serializers ?? defaultSerializers;
    let body = delivery.body;
    // Optional chaining: a transport may hand over a delivery parsed from a foreign envelope without headers.
    const compression = delivery.headers?.['compression'];
    if (typeof compression === 'string' && compression !== '') {
      // As in Kombu, a body that fails to decompress still yields a Message (so it can be acked or
      // rejected); the error surfaces when the content is decoded.
      try {
        body = (options.compressors ?? defaultCompressors).decompress(body, compression);
      } catch (error) {
        this.errors.push(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.bodyBytes = body;
  }

  /** The body bytes, decompressed (the raw bytes if decompression failed). */
  get body(): Uint8Array {
    return this.bodyBytes;
  }

  get headers(): Headers {
    return this.delivery.headers;
  }

  get properties(): MessageProperties {
    return this.delivery.properties;
  }

  get deliveryInfo(): DeliveryInfo {
    return this.delivery.deliveryInfo;
  }

  get deliveryTag(): string {
    return this.delivery.deliveryTag;
  }

  get contentType(): string | null {
    return this.delivery.contentType;
  }

  get contentEncoding(): string | null {
    return this.delivery.contentEncoding;
  }

  get redelivered(): boolean {
    return this.delivery.deliveryInfo.redelivered;
  }

  get state(): MessageState {
    return this.currentState;
  }

  /** True once the message was acked, rejected or requeued. */
  get acknowledged(): boolean {
    return this.currentState !== 'RECEIVED';
  }

  /** Deserializes the body (once; later calls return the cached value). Honours `accept`. */
  decode(): unknown {
    if (this.decoded !== NOT_DECODED) return this.decoded;
    const [error] = this.errors;
    if (error) throw error;
    try {
      this.decoded = this.serializers.loads(
        this.bodyBytes,
        this.delivery.contentType,
        this.delivery.contentEncoding,
        this.accept,
      );
    } catch (decodeError) {
      this.lastDecodeError = decodeError;
      throw decodeError;
    }
    return this.decoded;
  }

  /**
   * The error the last failed `decode()` threw (or the decompression error), so a consumer can
   * tell a decode failure escaping an `onMessage` handler from any other handler error.
   */
  get decodeError(): unknown {
    return this.errors[0] ?? this.lastDecodeError;
  }

  /** The decoded body (see {@link decode}). */
  get payload(): unknown {
    return this.decode();
  }

  /**
   * Acknowledges the message. A no-op for a no-ack delivery (nothing to acknowledge), which leaves
   * the state RECEIVED.
   */
  ack(): Promise<void> {
    // Not `async`, and no closure: this runs once per message, and the channel's promise is
    // handed back with a single reaction (see settle).
    if (this.delivery.noAck) return Promise.resolve();
    return this.settle('ACK', basicAck);
  }

  /** Rejects the message; with `requeue: true` it goes back to its queue. */
  async reject(options: { requeue?: boolean } = {}): Promise<void> {
    const requeue = options.requeue ?? false;
    if (this.delivery.noAck) {
      if (requeue) this.refuseNoAckRequeue();
      return;
    }
    await this.settle('REJECTED', (channel, tag) => channel.basicReject(tag, requeue));
  }

  /** Puts the message back on its queue to be delivered again. */
  async requeue(): Promise<void> {
    if (this.delivery.noAck) this.refuseNoAckRequeue();
    await this.settle('REQUEUED', (channel, tag) => channel.basicReject(tag, true));
  }

  /**
   * Keeps the message invisible to restore sweeps for `seconds` more, for work that outlasts the
   * transport's visibility timeout.
   */
  async extendVisibility(seconds: number): Promise<void> {
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new ConfigurationError(`extendVisibility(seconds) needs a positive number of seconds, got ${seconds}`, {
        option: 'seconds',
      });
    }
    const channel = this.requireChannel();
    if (this.acknowledged) {
      throw new MessageStateError(`Message already acknowledged with state: ${this.currentState}`);
    }
    if (!channel.extendVisibility) {
      throw new ChannelError(
        'This transport has no visibility timeout: its unacked messages are never redelivered by a sweep, so there is nothing to extend',
      );
    }
    await channel.extendVisibility(this.deliveryTag, seconds);
  }

  /**
   * Settles the message by moving it, with `reason` and its original bytes, to its queue's
   * dead-letter list (state REJECTED). Consumers do this for content they cannot decode.
   * @throws ChannelError if the transport has no dead-letter list; MessageStateError for a no-ack
   *   delivery (the broker no longer holds it) or a message already settled.
   */
  async deadLetter(reason: string): Promise<void> {
    if (this.delivery.noAck) {
      throw new MessageStateError('Cannot dead-letter a message delivered with noAck: the broker no longer holds it');
    }
    await this.settle('REJECTED', (channel, tag) => {
      if (!channel.basicDeadLetter) {
        throw new ChannelError('This transport has no dead-letter list; reject or requeue the message instead');
      }
      return channel.basicDeadLetter(tag, reason);
    });
  }

  private refuseNoAckRequeue(): never {
    // The broker forgot a no-ack message when it delivered it: there is nothing left to requeue.
    throw new MessageStateError('Cannot requeue a message delivered with noAck: the broker no longer holds it');
  }

  private requireChannel(): Channel {
    if (!this.channel) throw new MessageStateError('This message does not have a receiving channel');
    return this.channel;
  }

  /**
   * The state flips before the channel call is awaited, so a second ack/reject racing the first is
   * refused at once. If the channel call fails the state goes back to RECEIVED: the broker never
   * recorded the ack, and the caller may try again. Never throws: failures are rejections.
   */
  private settle(next: MessageState, call: (channel: Channel, deliveryTag: string) => Promise<void>): Promise<void> {
    if (!this.channel) return Promise.reject(new MessageStateError('This message does not have a receiving channel'));
    if (this.currentState !== 'RECEIVED') {
      return Promise.reject(new MessageStateError(`Message already acknowledged with state: ${this.currentState}`));
    }
    this.currentState = next;
    let pending: Promise<void>;
    try {
      pending = call(this.channel, this.delivery.deliveryTag);
    } catch (error) {
      this.currentState = 'RECEIVED';
      return Promise.reject(error);
    }
    return pending.then(undefined, (error: unknown) => {
      this.currentState = 'RECEIVED';
      throw error;
    });
  }
}

const basicAck = (channel: Channel, deliveryTag: string): Promise<void> => channel.basicAck(deliveryTag);
