/**
 * `Consumer`: consumes a list of queues and hands each message to callbacks (in delivery order,
 * up to `concurrency` async callbacks at once, one by default) or to an async iterator.
 *
 * Errors nobody handles never crash the process and never lose a message:
 * - A message that cannot be decoded (a content type outside `accept`, a body its serializer
 *   rejects, broken compression) goes to `onDecodeError(message, error)` if given. Without it the
 *   consumer settles the message with `channel.basicDeadLetter(tag, reason)` where the transport
 *   has a dead-letter list (the original bytes are kept there with the reason), and otherwise
 *   leaves it unacked (it is restored after the visibility timeout or when the channel closes).
 * - A callback (or `onMessage`) that throws leaves its message unacked, as Kombu does; with
 *   `settleByOutcome` it rejects the message instead (see ConsumerOptions).
 * - Either error is reported to `onError` / the consumer's 'error' listeners; without those to the
 *   'error' event of the Connection the consumer runs on (or that opened its channel) if that has
 *   listeners; and it is always recorded in `consumer.lastError`. It is never rethrown as an
 *   unhandled promise rejection (which would kill Node).
 */
import { z } from 'zod';
import { channelOwner, type ChannelOwner } from './connection-channels.js';
import { Dispatcher } from './consumer-dispatch.js';
import { handleMessage, type HandlerHost } from './consumer-handler.js';
import { keepAliveSettings, startKeepAlive, type KeepAliveOptions } from './consumer-keep-alive.js';
import {
  CANCEL_OPTION_NAMES,
  cancelOptionsSchema,
  CONSUMER_OPTION_NAMES,
  consumerOptionsSchema,
  DEFAULT_STOP_TIMEOUT,
  isChannelProvider,
  pickValidated,
  type ChannelProvider,
  type ConsumerCallback,
  type ConsumerOptions,
  type ConsumerSource,
  type ErrorListener,
} from './consumer-options.js';
import { trackConsumer, untrackConsumer } from './consumer-registry.js';
import { ConfigurationError } from './errors.js';
import { Message, type MessageOptions } from './message.js';
import { MessageIterator, isDrainable, type DrainableConnection, type WaitOptions } from './message-iterator.js';
import type { Delivery } from './message-types.js';
import { parseOptions } from './option-parsing.js';
import type { Queue } from './queue.js';
import type { Channel } from './transport.js';

export {
  DEFAULT_STOP_TIMEOUT,
  type ChannelProvider,
  type ConsumerCallback,
  type ConsumerOptions,
  type ConsumerSource,
  type KeepAliveOptions,
};

export class Consumer {
  readonly queues: Queue[];
  readonly callbacks: ConsumerCallback[];
  readonly accept: readonly string[] | undefined;
  prefetchCount: number | undefined;
  /** Callbacks allowed in flight at once (see ConsumerOptions.concurrency). */
  readonly concurrency: number;
  /** The most recent error this consumer reported (handled or not); see the module doc. */
  lastError: unknown = undefined;
  private readonly source: ConsumerSource;
  private readonly options: ConsumerOptions;
  private readonly noAck: boolean | undefined;
  private readonly tagPrefix: string | undefined;
  private readonly autoDeclare: boolean;
  private readonly keepAliveOption: boolean | KeepAliveOptions | undefined;
  private readonly tags = new Map<string, string>();
  private readonly errorListeners = new Set<ErrorListener>();
  private readonly wakers = new Set<() => void>();
  private readonly dispatcher: Dispatcher;
  /** What the message handler (consumer-handler.ts) needs from this consumer. */
  private readonly handlerHost: HandlerHost;
  /** Built once: every message of this consumer shares it (Message only reads it). */
  private readonly messageOptions: MessageOptions;
  private boundChannel: Channel | undefined;
  private iterator: MessageIterator | undefined;
  /** False after cancel(): late deliveries go straight back to the broker instead of to callbacks. */
  private accepting = true;
  private tagCounter = 0;
  /** Serializes consume/cancel so concurrent calls never double-consume a queue. */
  private operations: Promise<unknown> = Promise.resolve();

  constructor(source: ConsumerSource, queues: Queue | readonly Queue[], options: ConsumerOptions = {}) {
    CONSUMER_OPTION_NAMES.check(options, 'Consumer');
    const parsed = parseOptions(consumerOptionsSchema, pickValidated(options), 'Consumer');
    this.source = source;
    this.boundChannel = isChannelProvider(source) ? undefined : source;
    this.queues = Array.isArray(queues) ? [...(queues as readonly Queue[])] : [queues as Queue];
    this.callbacks = [...(options.callbacks ?? [])];
    this.accept = parsed.accept;
    this.concurrency = parsed.concurrency;
    this.prefetchCount = parsed.prefetchCount ?? (parsed.concurrency > 1 ? 2 * parsed.concurrency : undefined);
    this.noAck = parsed.noAck;
    this.tagPrefix = parsed.tag;
    this.autoDeclare = parsed.autoDeclare;
    this.keepAliveOption = parsed.keepAlive;
    this.options = options;
    this.messageOptions = { accept: this.accept };
    if (options.serializers) this.messageOptions.serializers = options.serializers;
    if (options.compressors) this.messageOptions.compressors = options.compressors;
    this.handlerHost = {
      callbacks: this.callbacks,
      onMessage: options.onMessage,
      onDecodeError: options.onDecodeError,
      settleByOutcome: parsed.settleByOutcome,
      decodeFailures: new WeakSet(),
      report: (error, message) => this.report(error, message),
    };
    this.dispatcher = new Dispatcher({
      toMessage: (delivery) => this.toMessage(delivery),
      handle: (message) => handleMessage(this.handlerHost, message),
      report: (error, message) => this.report(error, message),
      keepAlive: (message) => this.startKeepAlive(message),
      handled: () => this.progressTarget()?.noteHandled?.(),
    }, parsed.concurrency);
  }

  get channel(): Channel | undefined {
    return this.boundChannel;
  }

  /** True while at least one queue is being consumed. */
  get consuming(): boolean {
    return this.tags.size > 0;
  }

  /** The consumer tag per queue name, for the queues being consumed. */
  get consumerTags(): ReadonlyMap<string, string> {
    return this.tags;
  }

  consumingFrom(queueName: string): boolean {
    return this.tags.has(queueName);
  }

  registerCallback(callback: ConsumerCallback): void {
    this.callbacks.push(callback);
  }

  on(event: 'error', listener: ErrorListener): this {
    if (event === 'error') this.errorListeners.add(listener);
    return this;
  }

  off(event: 'error', listener: ErrorListener): this {
    if (event === 'error') this.errorListeners.delete(listener);
    return this;
  }

  /** Declares (if autoDeclare), applies the prefetch count and starts consuming every queue. */
  consume(): Promise<void> {
    return this.serial(async () => {
      const channel = await this.resolveChannel();
      this.accepting = true;
      trackConsumer(channel, this);
      if (this.prefetchCount !== undefined && !this.consuming) await channel.basicQos(this.prefetchCount);
      for (const queue of this.queues) await this.consumeQueue(queue, channel);
    });
  }

  /**
   * Stops consuming, gracefully: no new deliveries are taken; prefetched messages no callback has
   * started are handed back to the head of their queues at once (`basicRestore`); then it waits
   * up to `timeout` seconds (default 10) for every callback in progress to finish (not when called
   * from inside this consumer's own callback, which would wait for itself). A callback still
   * running after that keeps its message unacked; it can still ack it while the channel is open.
   * No-ack deliveries cannot be handed back (the broker forgot them), so they are still handled.
   */
  cancel(options: { timeout?: number } = {}): Promise<void> {
    const { timeout = DEFAULT_STOP_TIMEOUT } = parseOptions(cancelOptionsSchema, options, 'Consumer.cancel', CANCEL_OPTION_NAMES);
    const fromOwnCallback = this.dispatcher.inCallback;
    // An iterator in progress ends its loop (done) and restores what it buffered; it stops us.
    const iterator = this.iterator;
    const stopped = iterator ? iterator.close().then(() => this.stopConsuming()) : this.stopConsuming();
    if (iterator) for (const wake of [...this.wakers]) wake();
    if (fromOwnCallback) return stopped;
    return stopped.then(async () => {
      await this.dispatcher.whenIdle(timeout);
      if (this.boundChannel && !this.consuming) untrackConsumer(this.boundChannel, this);
    });
  }

  /** basicCancel every tag, then hand the not-yet-started backlog back. */
  private stopConsuming(): Promise<void> {
    return this.serial(async () => {
      this.accepting = false;
      const channel = this.boundChannel;
      const tags = [...this.tags.values()];
      this.tags.clear();
      try {
        if (channel) for (const tag of tags) await channel.basicCancel(tag);
      } finally {
        await this.restoreBacklog();
      }
    });
  }

  /** Stops consuming one queue and drops it from `queues`. */
  cancelByQueue(name: string): Promise<void> {
    return this.serial(async () => {
      const tag = this.tags.get(name);
      this.tags.delete(name);
      const index = this.queues.findIndex((queue) => queue.name === name);
      if (index >= 0) this.queues.splice(index, 1);
      if (tag !== undefined && this.boundChannel) await this.boundChannel.basicCancel(tag);
    });
  }

  /** Adds a queue; it is consumed at once if the consumer is consuming. */
  addQueue(queue: Queue): Promise<Queue> {
    return this.serial(async () => {
      if (!this.queues.includes(queue)) this.queues.push(queue);
      if (this.consuming && this.boundChannel) await this.consumeQueue(queue, this.boundChannel);
      return queue;
    });
  }

  /** Purges every queue; resolves with the number of messages removed. */
  async purge(): Promise<number> {
    const channel = await this.resolveChannel();
    let total = 0;
    for (const queue of this.queues) total += await queue.purge({ channel });
    return total;
  }

  /** Redelivers every unacked message of the channel (Kombu's `recover(requeue=True)`). */
  async recover(): Promise<void> {
    await (await this.resolveChannel()).basicRecover(true);
  }

  async qos(options: { prefetchCount: number }): Promise<void> {
    const { prefetchCount } = parseOptions(
      z.strictObject({ prefetchCount: z.number().int().min(0) }),
      options,
      'Consumer.qos',
    );
    this.prefetchCount = prefetchCount;
    await (await this.resolveChannel()).basicQos(prefetchCount);
  }

  /** Resolves when every delivered message has been through the callbacks. */
  async whenIdle(): Promise<void> {
    await this.dispatcher.whenIdle();
  }

  /**
   * Iterates over messages (undecoded; call `message.decode()`). While iterating, deliveries go to
   * the iterator, not to callbacks. `timeout` (seconds) bounds each wait (OperationTimeoutError);
   * leaving the loop cancels the consumer and restores prefetched messages not yet yielded.
   * @throws ConfigurationError (from `next()`) for a consumer built on a bare channel of a
   *   Connection whose hub nobody runs: nothing would ever deliver, so the loop would hang.
   */
  messages(options: WaitOptions = {}): MessageIterator {
    if (this.iterator) {
      throw new ConfigurationError('This consumer is already being iterated; finish that loop first');
    }
    const iterator = new MessageIterator(
      {
        startConsuming: () => this.consume(),
        stopConsuming: () => this.stopConsuming(),
        restore: async (tags) => {
          if (this.boundChannel) await this.boundChannel.basicRestore(tags);
        },
        detach: (it) => {
          if (this.iterator === it) this.iterator = undefined;
        },
        toMessage: (delivery) => this.toMessage(delivery),
        subscribe: (wake) => {
          this.wakers.add(wake);
          return () => this.wakers.delete(wake);
        },
        drainable: this.drainable,
        assertDriven: () => this.assertDriven(),
      },
      options,
    );
    this.iterator = iterator;
    return iterator;
  }

  [Symbol.asyncIterator](): MessageIterator {
    return this.messages();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.iterator?.close();
    await this.cancel();
  }

  /** The connection to drive with drainEvents while waiting, when built on one that has it. */
  get drainable(): DrainableConnection | undefined {
    return isDrainable(this.source) ? this.source : undefined;
  }

  /** Listens for deliveries (used by SimpleQueue to wait). Returns the remover. */
  subscribe(wake: () => void): () => void {
    this.wakers.add(wake);
    return () => this.wakers.delete(wake);
  }

  toMessage(delivery: Delivery): Message {
    return new Message(delivery, this.boundChannel, this.messageOptions);
  }

  /**
   * Throws if waiting for a delivery would hang: the consumer is built on a bare channel whose
   * connection's hub is not running (only the hub delivers). A consumer built on the Connection
   * drives the hub itself; a channel of unknown origin is given the benefit of the doubt.
   */
  async assertDriven(): Promise<void> {
    if (this.drainable) return;
    const owner = channelOwner(this.boundChannel);
    if (!owner || owner.hub.running) return;
    // A hub started in the same tick as the loop (or between two drainEvents slices) gets a turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (owner.hub.running) return;
    throw new ConfigurationError(
      'This Consumer is built on a bare channel and nothing runs its connection\'s hub, so no message can ever arrive: ' +
        'build the Consumer on the Connection (conn.Consumer(queues) or new Consumer(conn, queues)), ' +
        'or run conn.hub (conn.hub.runForever()) while iterating',
    );
  }

  private async consumeQueue(queue: Queue, channel: Channel): Promise<void> {
    if (this.tags.has(queue.name)) return;
    if (this.autoDeclare) await queue.declare({ channel });
    const consumerTag = this.tagPrefix === undefined ? undefined : `${this.tagPrefix}${++this.tagCounter}`;
    const tag = await channel.basicConsume(queue.name, {
      noAck: this.noAck ?? queue.noAck,
      ...(consumerTag === undefined ? {} : { consumerTag }),
      onDelivery: (delivery) => this.receive(delivery),
    });
    this.tags.set(queue.name, tag);
  }

  private receive(delivery: Delivery): void {
    if (this.iterator) this.iterator.push(delivery);
    else if (!this.accepting && !delivery.noAck) this.giveBack([delivery.deliveryTag]);
    else this.dispatcher.push(delivery);
    // Copied only when someone listens: a waker may unsubscribe while we iterate.
    if (this.wakers.size > 0) for (const wake of [...this.wakers]) wake();
  }

  /** Hands queued, never-started messages back to the broker (cancel, a delivery racing it). */
  private async restoreBacklog(): Promise<void> {
    const taken = this.dispatcher.take((delivery) => delivery.noAck);
    if (taken.length > 0) await this.giveBack(taken.map((delivery) => delivery.deliveryTag));
  }

  private async giveBack(tags: string[]): Promise<void> {
    const channel = this.boundChannel;
    if (!channel) return;
    try {
      await channel.basicRestore(tags);
    } catch (error) {
      // Still unacked: the channel's close or the visibility sweep restores them.
      this.report(error, undefined);
    }
  }

  private startKeepAlive(message: Message): (() => void) | undefined {
    const settings = keepAliveSettings(this.keepAliveOption, this.visibilityTimeout());
    if (!settings) return undefined;
    return startKeepAlive(message, settings, (error) => this.report(error, message));
  }

  /** The transport's visibility timeout: the channel's own if it says, else its connection's options. */
  private visibilityTimeout(): number | undefined {
    const fromChannel = (this.boundChannel as { visibilityTimeout?: unknown } | undefined)?.visibilityTimeout;
    if (typeof fromChannel === 'number') return fromChannel;
    if (isChannelProvider(this.source) && this.source.visibilityTimeout !== undefined) return this.source.visibilityTimeout;
    return channelOwner(this.boundChannel)?.visibilityTimeout;
  }

  /** See the module doc: handlers first, then the connection, always `lastError`; never a rejection. */
  private report(error: unknown, message: Message | undefined): void {
    this.lastError = error;
    const handlers: ErrorListener[] = this.options.onError ? [this.options.onError] : [...this.errorListeners];
    if (handlers.length > 0) {
      try {
        for (const handler of handlers) handler(error, message);
        return;
      } catch (handlerError) {
        // A broken handler must not hide either error: the connection hears the handler's.
        this.lastError = handlerError;
        error = handlerError;
      }
    }
    const connection = this.errorConnection();
    try {
      connection?.reportError?.(error);
    } catch (listenerError) {
      this.lastError = listenerError;
    }
  }

  /** Who counts handled messages as progress (the connection's `drainEvents`). */
  private progressTarget(): Pick<ChannelProvider, 'noteHandled'> | undefined {
    if (isChannelProvider(this.source) && this.source.noteHandled) return this.source;
    return channelOwner(this.boundChannel);
  }

  private errorConnection(): Pick<ChannelOwner, 'reportError'> | Pick<ChannelProvider, 'reportError'> | undefined {
    if (isChannelProvider(this.source) && this.source.reportError) return this.source;
    return channelOwner(this.boundChannel);
  }

  private async resolveChannel(): Promise<Channel> {
    if (this.boundChannel) return this.boundChannel;
    if (!isChannelProvider(this.source)) return this.source;
    this.boundChannel = await this.source.defaultChannel();
    return this.boundChannel;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.operations.then(fn, fn);
    this.operations = run.catch(() => undefined);
    return run;
  }
}
