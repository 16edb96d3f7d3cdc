/**
 * kelp's error tree. Every error a kelp API throws on purpose is a `KelpError`; the subclass says
 * what went wrong and `recoverable` says whether retrying (after a reconnect) can help.
 *
 * - {@link OperationalError}: the connection to the broker is in trouble (refused, lost, timed out).
 *   Recoverable: `Connection.ensure` reconnects and retries on these.
 * - {@link ChannelError}: the broker refused an operation on a channel (unknown queue, conflicting
 *   declaration, a command the server rejected). Not fixed by retrying the same call.
 * - {@link ContentError}: a message body could not be encoded, decoded or was not accepted.
 * - {@link PublishNotConfirmedError}: a confirmed publish was stored but not known to be replicated.
 * - {@link MessageStateError}, {@link NotBoundError}, {@link LimitExceeded},
 *   {@link ConfigurationError}, {@link OperationTimeoutError}: misuse, exhausted resources, bad
 *   options and waits that ran out of time.
 */
import type { PublishResult } from './message-types.js';

export interface KelpErrorOptions {
  cause?: unknown;
}

export class KelpError extends Error {
  /** True when retrying the operation (possibly after reconnecting) may succeed. */
  readonly recoverable: boolean = false;

  constructor(message: string, options?: KelpErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** The connection to the broker failed or was lost. Retry after reconnecting. */
export class OperationalError extends KelpError {
  override readonly recoverable: boolean = true;
}

/** A broker-side refusal of a channel operation (AMQP channel errors, Redis error replies). */
export class ChannelError extends KelpError {
  /** AMQP-style reply code where one applies (404 not found, 406 precondition failed). */
  readonly code: number | undefined;

  constructor(message: string, options?: KelpErrorOptions & { code?: number }) {
    super(message, options);
    this.code = options?.code;
  }
}

/** A passive declaration or an operation named an exchange or queue that does not exist (404). */
export class NotFoundError extends ChannelError {
  constructor(message: string, options?: KelpErrorOptions) {
    super(message, { ...options, code: 404 });
  }
}

/** An entity was declared again with different arguments (406 PRECONDITION_FAILED). */
export class NotEquivalentError extends ChannelError {
  constructor(message: string, options?: KelpErrorOptions) {
    super(message, { ...options, code: 406 });
  }
}

/** An operation on a channel that has been closed. Carries the stack of where it was closed. */
export class ChannelClosedError extends ChannelError {
  constructor(message: string, options?: KelpErrorOptions & { closedAt?: string }) {
    super(options?.closedAt ? `${message}\nChannel was closed at:\n${options.closedAt}` : message, options);
  }
}

/** Base of the errors about message content. */
export class ContentError extends KelpError {}

/** The body could not be serialized or compressed (unknown serializer, value it cannot encode). */
export class EncodeError extends ContentError {}

/** The body could not be decompressed or deserialized. */
export class DecodeError extends ContentError {}

/** The message's content type is not in the consumer's `accept` list. */
export class ContentDisallowedError extends ContentError {
  readonly contentType: string;

  constructor(message: string, options: KelpErrorOptions & { contentType: string }) {
    super(message, options);
    this.contentType = options.contentType;
  }
}

/**
 * A publish with `confirm` was stored, but fewer replicas than asked acknowledged it within the
 * timeout. The message stays published: this says "not known to be replicated", not "not
 * written". Not recoverable: publishing again stores a second copy (consumers may then see both).
 */
export class PublishNotConfirmedError extends KelpError {
  /** How many replicas acknowledged the write. */
  readonly acknowledged: number;
  /** How many replicas the publish asked for. */
  readonly requested: number;
  /** Where the message was stored (the write stays). */
  readonly result: PublishResult;

  constructor(message: string, options: KelpErrorOptions & { acknowledged: number; requested: number; result: PublishResult }) {
    super(message, options);
    this.acknowledged = options.acknowledged;
    this.requested = options.requested;
    this.result = options.result;
  }
}

/** A message was acked, rejected or requeued twice, or has no channel to answer on. */
export class MessageStateError extends KelpError {}

/** An entity (Exchange, Queue, Producer, Consumer) was used before being bound to a channel. */
export class NotBoundError extends KelpError {}

/** A pool or another bounded resource is exhausted. */
export class LimitExceeded extends KelpError {}

/** An option, URL or argument is invalid. The message names the option and the accepted values. */
export class ConfigurationError extends KelpError {
  /** The option (path) at fault, e.g. `transportOptions.visibilityTimeout`. */
  readonly option: string | undefined;

  constructor(message: string, options?: KelpErrorOptions & { option?: string }) {
    super(message, options);
    this.option = options?.option;
  }
}

/** A wait (drainEvents, pool acquire, get with timeout) ran out of time. */
export class OperationTimeoutError extends KelpError {
  override readonly recoverable: boolean = true;
}

/** The operation was aborted through its AbortSignal. */
export class AbortedError extends KelpError {}

/** True for errors that reconnecting and retrying may fix. */
export function isRecoverable(error: unknown): boolean {
  return error instanceof KelpError && error.recoverable;
}

/** Throws an {@link AbortedError} carrying the signal's reason when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('The operation was aborted', { cause: signal.reason });
}
