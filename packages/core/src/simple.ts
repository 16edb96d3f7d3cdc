/**
 * `SimpleQueue` / `SimpleBuffer` (Kombu's `kombu.simple`, docs/kombu-compatibility.md#helpers): a
 * queue named `name` bound to a direct exchange `name` with routing key `name`, with put/get and a
 * local buffer of delivered messages.
 */
import type { CompressionRegistry } from './compression/registry.js';
import { Consumer, type ConsumerSource } from './consumer.js';
import { throwIfAborted } from './errors.js';
import { Exchange, type ExchangeOptions } from './exchange.js';
import { maybeDeclare } from './maybe-declare.js';
import type { Message } from './message.js';
import { waitUntilReady, type WaitOptions } from './message-iterator.js';
import { OptionNames } from './option-parsing.js';
import type { PublishResult } from './message-types.js';
import { isConnectionLike, Producer, type ConnectionLike, type PublishOptions } from './producer.js';
import { Queue, type QueueOptions } from './queue.js';
import type { SerializerRegistry } from './serialization/registry.js';
import type { Channel } from './transport.js';

export interface SimpleQueueOptions {
  /** Consume without acknowledgements. */
  noAck?: boolean;
  queueOptions?: Omit<QueueOptions, 'exchange' | 'routingKey'>;
  exchangeOptions?: ExchangeOptions;
  serializer?: string;
  compression?: string;
  accept?: readonly string[];
  serializers?: SerializerRegistry;
  compressors?: CompressionRegistry;
}

const SIMPLE_QUEUE_OPTION_NAMES = OptionNames.of<SimpleQueueOptions>({
  noAck: true, queueOptions: true, exchangeOptions: true, serializer: true, compression: true, accept: true,
  serializers: true, compressors: true,
});

const GET_OPTION_NAMES = OptionNames.of<WaitOptions>({ timeout: true, signal: true });

/** Publish options for put(); `declare` always includes the queue. */
type PutOptions = PublishOptions;

export class SimpleQueue {
  readonly queue: Queue;
  readonly exchange: Exchange;
  readonly producer: Producer;
  readonly consumer: Consumer;
  private readonly source: Channel | ConnectionLike;
  private readonly buffer: Message[] = [];
  private readonly noAck: boolean;
  private readonly accept: readonly string[] | undefined;
  private consuming: Promise<void> | undefined;

  constructor(source: Channel | ConnectionLike, nameOrQueue: string | Queue, options: SimpleQueueOptions = {}) {
    SIMPLE_QUEUE_OPTION_NAMES.check(options, 'SimpleQueue');
    this.source = source;
    this.noAck = options.noAck ?? false;
    this.accept = options.accept;
    if (typeof nameOrQueue === 'string') {
      this.exchange = new Exchange(nameOrQueue, { type: 'direct', ...options.exchangeOptions });
      this.queue = new Queue(nameOrQueue, { ...options.queueOptions, exchange: this.exchange, routingKey: nameOrQueue });
    } else {
      this.queue = nameOrQueue;
      this.exchange = nameOrQueue.exchange ?? new Exchange('');
    }
    this.producer = new Producer(source, {
      exchange: this.exchange,
      routingKey: this.queue.routingKey,
      ...(options.serializer === undefined ? {} : { serializer: options.serializer }),
      ...(options.compression === undefined ? {} : { compression: options.compression }),
      ...(options.serializers ? { serializers: options.serializers } : {}),
      ...(options.compressors ? { compressors: options.compressors } : {}),
    });
    this.consumer = new Consumer(source as ConsumerSource, this.queue, {
      noAck: this.noAck,
      ...(options.accept ? { accept: options.accept } : {}),
      ...(options.serializers ? { serializers: options.serializers } : {}),
      ...(options.compressors ? { compressors: options.compressors } : {}),
      onMessage: (message) => {
        this.buffer.push(message);
      },
    });
  }

  /** Publishes `body` to the queue (declaring the queue once per connection). */
  async put(body: unknown, options: PutOptions = {}): Promise<PublishResult> {
    return this.producer.publish(body, { ...options, declare: [this.queue, ...(options.declare ?? [])] });
  }

  /**
   * Waits for the next message (`timeout` in seconds; OperationTimeoutError when it runs out).
   * Consumes through a Consumer into a local buffer, driving `drainEvents` when no hub runs.
   */
  async get(options: WaitOptions = {}): Promise<Message> {
    GET_OPTION_NAMES.check(options, 'SimpleQueue.get');
    throwIfAborted(options.signal);
    const buffered = this.buffer.shift();
    if (buffered) return buffered;
    await this.startConsuming();
    await waitUntilReady(
      () => this.buffer.length > 0,
      (wake) => this.consumer.subscribe(wake),
      this.consumer.drainable,
      options,
      () => this.consumer.assertDriven(),
    );
    return this.buffer.shift() as Message;
  }

  /** Takes a message without waiting (a buffered one first, else basic_get); undefined when empty. */
  async getNowait(): Promise<Message | undefined> {
    const buffered = this.buffer.shift();
    if (buffered) return buffered;
    const channel = await this.channel();
    await maybeDeclare(this.queue, channel, this.cacheOwner(channel));
    return this.queue.get({ channel, noAck: this.noAck, ...(this.accept ? { accept: this.accept } : {}) });
  }

  /** Messages waiting in the queue plus those delivered here and not yet taken by get(). */
  async qsize(): Promise<number> {
    const channel = await this.channel();
    // Not passive: on Redis an empty queue is no key at all, and a passive declare would fail
    // (docs/wire-format.md#declarations).
    const { messageCount } = await this.queue.queueDeclare({ channel });
    return messageCount + this.buffer.length;
  }

  /** Removes every waiting message (including locally buffered ones); resolves with the count. */
  async clear(): Promise<number> {
    const channel = await this.channel();
    const local = this.buffer.splice(0);
    for (const message of local) await message.ack();
    return (await this.queue.purge({ channel })) + local.length;
  }

  /** Stops consuming and hands buffered messages back to the queue. Does not close the channel. */
  async close(): Promise<void> {
    await this.consumer.cancel();
    this.consuming = undefined;
    const tags = this.buffer
      .splice(0)
      .filter((message) => !message.delivery.noAck)
      .map((message) => message.deliveryTag);
    const channel = this.consumer.channel;
    if (tags.length > 0 && channel) await channel.basicRestore(tags);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private startConsuming(): Promise<void> {
    this.consuming ??= this.consumer.consume().catch((error: unknown) => {
      this.consuming = undefined;
      throw error;
    });
    return this.consuming;
  }

  private async channel(): Promise<Channel> {
    return isConnectionLike(this.source) ? this.source.defaultChannel() : this.source;
  }

  private cacheOwner(channel: Channel): object {
    return isConnectionLike(this.source) ? this.source : channel;
  }
}

/** A SimpleQueue for transient messages: no acks, not durable, auto-deleted, transient delivery. */
export class SimpleBuffer extends SimpleQueue {
  constructor(source: Channel | ConnectionLike, name: string, options: SimpleQueueOptions = {}) {
    super(source, name, {
      ...options,
      noAck: true,
      queueOptions: { ...options.queueOptions, durable: false, autoDelete: true },
      exchangeOptions: { ...options.exchangeOptions, durable: false, autoDelete: true, deliveryMode: 'transient' },
    });
  }
}
