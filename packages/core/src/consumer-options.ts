/**
 * The Consumer's option types, their validation and small helpers, kept apart from consumer.ts so
 * each file stays readable.
 */
import { z } from 'zod';
import type { CompressionRegistry } from './compression/registry.js';
import { keepAliveSchema, type KeepAliveOptions } from './consumer-keep-alive.js';
import type { Message } from './message.js';
import { OptionNames } from './option-parsing.js';
import type { SerializerRegistry } from './serialization/registry.js';
import type { Channel } from './transport.js';

export type { KeepAliveOptions } from './consumer-keep-alive.js';

export type ConsumerCallback = (body: unknown, message: Message) => void | Promise<void>;

/** A connection the consumer can take its default channel from (and drain, if it can). */
export interface ChannelProvider {
  defaultChannel(): Promise<Channel>;
  /** Emits the connection's 'error' event if anyone listens; false when nobody does. */
  reportError?(error: unknown): boolean;
  /** The transport's visibility timeout in seconds, when known. */
  readonly visibilityTimeout?: number | undefined;
  /** A consumer finished handling a message (counts as progress for `drainEvents`). */
  noteHandled?(): void;
}

export type ConsumerSource = Channel | ChannelProvider;

/** Seconds `cancel()` and `Connection.close()` wait for a callback in progress by default. */
export const DEFAULT_STOP_TIMEOUT = 10;

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
  /**
   * How many messages this consumer's broker may hand over before they are acked (0: no limit).
   * Default: twice `concurrency` when `concurrency` is above 1, otherwise no limit. A value below
   * `concurrency` caps the callbacks in flight at it, since only delivered messages reach them.
   */
  prefetchCount?: number;
  /**
   * Callbacks (or `onMessage` handlers) that may run at once, each on its own message (default 1).
   * With 1, the next message waits until the previous callback's promise settles: strict delivery
   * order. Above 1, messages start in delivery order and may finish in any order; `cancel()` waits
   * for all of them, and the acks they make in one tick reach the broker as one command.
   */
  concurrency?: number;
  /**
   * Settles each message by how its callbacks end, as BullMQ and Celery workers do: returning acks
   * it, throwing (or rejecting) rejects it, to its queue's dead-letter list where the queue has
   * dead-letter routing, otherwise back to the queue to be delivered again. A callback may still
   * settle its message itself; that one is then left alone. Default false: the callback acks.
   */
  settleByOutcome?: boolean;
  /** Consume without acknowledgements (overrides each queue's `noAck`). */
  noAck?: boolean;
  /** Consumer tag prefix; tags become `<tag><n>`. Default: the channel picks. */
  tag?: string;
  /**
   * Takes messages that cannot be decoded; the message is then yours to settle. Without it the
   * consumer dead-letters them (or leaves them unacked) and reports the error (see the module doc).
   */
  onDecodeError?: (message: Message, error: unknown) => void | Promise<void>;
  /** Errors from decoding (without onDecodeError), from callbacks and from keep-alive extensions. */
  onError?: (error: unknown, message: Message | undefined) => void;
  /** Declare the queues (and their exchanges and bindings) on consume(). Default true. */
  autoDeclare?: boolean;
  /**
   * While an async callback runs, extend its message's visibility every `interval` seconds
   * (default a third of the transport's visibility timeout, 3600 s when it is not known) by
   * `extendBy` seconds (default the visibility timeout), until the message is settled or the
   * callback ends, so no restore sweep redelivers a message still being worked on.
   * Applies to callbacks and `onMessage`, not to messages taken from the async iterator.
   */
  keepAlive?: boolean | KeepAliveOptions;
  serializers?: SerializerRegistry;
  compressors?: CompressionRegistry;
}

/** Every option name `new Consumer()` accepts: a misspelt one is refused, not silently ignored. */
export const CONSUMER_OPTION_NAMES = OptionNames.of<ConsumerOptions>({
  callbacks: true,
  onMessage: true,
  accept: true,
  prefetchCount: true,
  concurrency: true,
  settleByOutcome: true,
  noAck: true,
  tag: true,
  onDecodeError: true,
  onError: true,
  autoDeclare: true,
  keepAlive: true,
  serializers: true,
  compressors: true,
});

export const consumerOptionsSchema = z.object({
  prefetchCount: z.number().int().min(0).optional(),
  concurrency: z.number().int().min(1).default(1),
  settleByOutcome: z.boolean().default(false),
  noAck: z.boolean().optional(),
  tag: z.string().optional(),
  autoDeclare: z.boolean().default(true),
  accept: z.array(z.string()).optional(),
  keepAlive: keepAliveSchema,
});

export const cancelOptionsSchema = z.object({ timeout: z.number().min(0).optional() });
export const CANCEL_OPTION_NAMES = new OptionNames(['timeout']);

export type ErrorListener = (error: unknown, message: Message | undefined) => void;

export const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';

/** Runs steps in order, synchronously until one returns a promise, then awaiting the rest. */
export function runInSequence(steps: ReadonlyArray<() => unknown>): void | Promise<void> {
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

export function reasonFor(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function isChannelProvider(source: ConsumerSource): source is ChannelProvider {
  return typeof (source as Partial<ChannelProvider>).defaultChannel === 'function';
}

export function pickValidated(options: ConsumerOptions): Record<string, unknown> {
  const { prefetchCount, concurrency, settleByOutcome, noAck, tag, autoDeclare, accept, keepAlive } = options;
  return {
    prefetchCount,
    concurrency,
    settleByOutcome,
    noAck,
    tag,
    autoDeclare,
    accept: accept === undefined ? undefined : [...accept],
    keepAlive: typeof keepAlive === 'object' ? { ...keepAlive } : keepAlive,
  };
}
