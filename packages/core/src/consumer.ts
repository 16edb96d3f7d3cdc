/**
 * `Consumer`: consumes a list of queues and hands each message to callbacks (one message at a
 * time, in delivery order, awaiting async callbacks) or to an async iterator.
 *
 * Error handling differs from Kombu on purpose: Kombu raises a decode error out of
 * `drain_events`. kelp has no caller to raise to (deliveries come from hub callbacks), so a
 * decode error goes to `onDecodeError(message, error)` if given; otherwise it and any callback
 * error go to `onError(error, message)` / the consumer's 'error' listeners, and the message is left
 * unacked, so it is redelivered after a restore instead of being lost silently. With no handler at
 * all the error becomes an unhandled promise rejection (loud, as Kombu's raise is).
 */
import { z } from 'zod';
import type { CompressionRegistry } from './compression/registry.js';
import { ConfigurationError } from './errors.js';
import { Message, type MessageOptions } from './message.js';
import { MessageIterator, isDrainable, type DrainableConnection, type WaitOptions } from './message-iterator.js';
import type { Delivery } from './message-types.js';
import { parseOptions } from './option-parsing.js';
import type { Queue } from './queue.js';
import type { SerializerRegistry } from './serialization/registry.js';
import type { Channel } from './transport.js';

export type ConsumerCallback = (body: unknown, message: Message) => void | Promise<void>;

/** A connection the consumer can take its default channel from (and drain, if it can). */
export interface ChannelProvider {
  defaultChannel(): Promise<Channel>;
}

export type ConsumerSource = Channel | ChannelProvider;

export interface ConsumerOptions {
  /** Called with the decoded body, in order, for each message (when no `onMessage`). */
  callbacks?: readonly ConsumerCallback[];
  /** Replaces callbacks: gets the undecoded Message (as Kombu's `on_message`). */
  onMessage?: (message: Message) => void | Promise<void>;
  /**
   * Content types or serializer names to decode (e.g. ['json']). Without it every registered
   * serializer (json, msgpack, text, binary and user-registered ones) is decoded: kelp has no
   * unsafe serializer, so the list only narrows what a consumer is willing to read.
   */
  accept?: readonly string[];
  prefetchCount?: number;
  /** Consume without acknowledgements (overrides each queue's `noAck`). */
  noAck?: boolean;
  /** Consumer tag prefix; tags become `<tag><n>`. Default: the channel picks. */
  tag?: string;
  onDecodeError?: (message: Message, error: unknown) => void | Promise<void>;
  /** Errors from decoding (without onDecodeError) and from callbacks. */
  onError?: (error: unknown, message: Message | undefined) => void;
  /** Declare the queues (and their exchanges and bindings) on consume(). Default true. */
  autoDeclare?: boolean;
  serializers?: SerializerRegistry;
  compressors?: CompressionRegistry;
}

const consumerOptionsSchema = z.object({
  prefetchCount: z.number().int().min(0).optional(),
  noAck: z.boolean().optional(),
  tag: z.string().optional(),
  autoDeclare: z.boolean().default(true),
  accept: z.array(z.string()).optional(),
});

type ErrorListener = (error: unknown, message: Message | undefined) => void;

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';

/** Runs steps in order, synchronously until one returns a promise, then awaiting the rest. */
function runInSequence(steps: ReadonlyArray<() => unknown>): void | Promise<void> {
  for (let i = 0; i < steps.length; i++) {
    const result = (steps[i] as () => unknown)();
    if (isThenable(result)) {
      return (async () => {
        await result;
        for (const step of steps.slice(i + 1)) await step();
      })();
    }
  }
}

export class Consumer {
  readonly queues: Queue[];
  readonly callbacks: ConsumerCallback[];
  readonly accept: readonly string[] | undefined;
  prefetchCount: number | undefined;
  private readonly source: ConsumerSource;
  private readonly options: ConsumerOptions;
  private readonly noAck: boolean | undefined;
  private readonly tagPrefix: string | undefined;
  private readonly autoDeclare: boolean;
  private readonly tags = new Map<string, string>();
  private readonly errorListeners = new Set<ErrorListener>();
  private readonly wakers = new Set<() => void>();
  private readonly backlog: Delivery[] = [];
  private idleWaiters: Array<() => void> = [];
  private boundChannel: Channel | undefined;
  private iterator: MessageIterator | undefined;
  private dispatching = false;
  private tagCounter = 0;
  /** Serializes consume/cancel so concurrent calls never double-consume a queue. */
  private operations: Promise<unknown> = Promise.resolve();

  constructor(source: ConsumerSource, queues: Queue | readonly Queue[], options: ConsumerOptions = {}) {
    const parsed = parseOptions(consumerOptionsSchema, pickValidated(options), 'Consumer');
    this.source = source;
    this.boundChannel = isChannelProvider(source) ? undefined : source;
    this.queues = Array.isArray(queues) ? [...(queues as readonly Queue[])] : [queues as Queue];
    this.callbacks = [...(options.callbacks ?? [])];
    this.accept = parsed.accept;
    this.prefetchCount = parsed.prefetchCount;
    this.noAck = parsed.noAck;
    this.tagPrefix = parsed.tag;
    this.autoDeclare = parsed.autoDeclare;
    this.options = options;
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
      if (this.prefetchCount !== undefined && !this.consuming) await channel.basicQos(this.prefetchCount);
      for (const queue of this.queues) await this.consumeQueue(queue, channel);
    });
  }

  /** Stops consuming every queue. Messages already delivered stay unacked until handled. */
  cancel(): Promise<void> {
    return this.serial(async () => {
      const channel = this.boundChannel;
      const tags = [...this.tags.values()];
      this.tags.clear();
      if (channel) for (const tag of tags) await channel.basicCancel(tag);
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
      z.object({ prefetchCount: z.number().int().min(0) }),
      options,
      'Consumer.qos',
    );
    this.prefetchCount = prefetchCount;
    await (await this.resolveChannel()).basicQos(prefetchCount);
  }

  /** Resolves when every delivered message has been through the callbacks. */
  whenIdle(): Promise<void> {
    if (!this.dispatching && this.backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Iterates over messages (undecoded; call `message.decode()`). While iterating, deliveries go to
   * the iterator, not to callbacks. `timeout` (seconds) bounds each wait (OperationTimeoutError);
   * leaving the loop cancels the consumer and restores prefetched messages not yet yielded.
   */
  messages(options: WaitOptions = {}): MessageIterator {
    if (this.iterator) {
      throw new ConfigurationError('This consumer is already being iterated; finish that loop first');
    }
    const iterator = new MessageIterator(
      {
        startConsuming: () => this.consume(),
        stopConsuming: () => this.cancel(),
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
    const options: MessageOptions = { accept: this.accept };
    if (this.options.serializers) options.serializers = this.options.serializers;
    if (this.options.compressors) options.compressors = this.options.compressors;
    return new Message(delivery, this.boundChannel, options);
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
    else {
      this.backlog.push(delivery);
      this.pump();
    }
    for (const wake of [...this.wakers]) wake();
  }

  /**
   * Handles the backlog one message at a time. Synchronous callbacks run inside the delivery
   * itself (so a `drainEvents()` that returns has run them); once a callback returns a promise the
   * rest of the backlog waits for it.
   */
  private pump(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    while (this.backlog.length > 0) {
      const message = this.toMessage(this.backlog.shift() as Delivery);
      let result: void | Promise<void>;
      try {
        result = this.handle(message);
      } catch (error) {
        this.report(error, message);
        continue;
      }
      if (isThenable(result)) {
        result
          .then(undefined, (error: unknown) => this.report(error, message))
          .finally(() => {
            this.dispatching = false;
            this.pump();
          });
        return;
      }
    }
    this.dispatching = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private handle(message: Message): void | Promise<void> {
    const [bodyError] = message.errors;
    if (bodyError) return this.decodeFailed(message, bodyError);
    if (this.options.onMessage) return this.options.onMessage(message);
    let body: unknown;
    try {
      body = message.decode();
    } catch (error) {
      return this.decodeFailed(message, error);
    }
    return runInSequence(this.callbacks.map((callback) => () => callback(body, message)));
  }

  private decodeFailed(message: Message, error: unknown): void | Promise<void> {
    if (this.options.onDecodeError) return this.options.onDecodeError(message, error);
    throw error;
  }

  private report(error: unknown, message: Message | undefined): void {
    try {
      if (this.options.onError) {
        this.options.onError(error, message);
        return;
      }
      if (this.errorListeners.size > 0) {
        for (const listener of this.errorListeners) listener(error, message);
        return;
      }
    } catch (handlerError) {
      error = handlerError;
    }
    // Nobody listens (or the handler threw): make it loud rather than lose it, as Kombu raises
    // out of drain_events. The dispatch loop itself keeps going.
    void Promise.reject(error);
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

function isChannelProvider(source: ConsumerSource): source is ChannelProvider {
  return typeof (source as Partial<ChannelProvider>).defaultChannel === 'function';
}

function pickValidated(options: ConsumerOptions): Record<string, unknown> {
  const { prefetchCount, noAck, tag, autoDeclare, accept } = options;
  return { prefetchCount, noAck, tag, autoDeclare, accept: accept === undefined ? undefined : [...accept] };
}
