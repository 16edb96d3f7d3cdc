/**
 * The async iterator behind `for await (const message of consumer)` and the shared "wait for a
 * delivery" logic (also used by SimpleQueue.get). Deliveries are buffered; leaving the loop hands
 * buffered, never-yielded messages back to the broker so prefetching never strands them.
 */
import { AbortedError, OperationTimeoutError, throwIfAborted } from './errors.js';
import type { Message } from './message.js';
import type { Delivery } from './message-types.js';

/** A connection that can pump its own event loop until a delivery happens (`Connection.drainEvents`). */
export interface DrainableConnection {
  drainEvents(options?: { timeout?: number; signal?: AbortSignal }): Promise<void>;
  readonly hub?: { readonly running: boolean };
}

export interface WaitOptions {
  /** Seconds to wait; undefined waits until a delivery or an abort. */
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

export function isDrainable(value: unknown): value is DrainableConnection {
  return typeof (value as Partial<DrainableConnection> | undefined)?.drainEvents === 'function';
}

/**
 * Resolves once `ready()` is true. While it is not: if `connection` can drain events and nobody
 * runs its hub, drive it with `drainEvents` (the delivery then happens inside that call);
 * otherwise the hub runs elsewhere and we just wait to be woken by `subscribe`'s callback.
 */
export async function waitUntilReady(
  ready: () => boolean,
  subscribe: (wake: () => void) => () => void,
  connection: DrainableConnection | undefined,
  options: WaitOptions = {},
  assertDriven?: () => Promise<void>,
): Promise<void> {
  const { timeout, signal } = options;
  const deadline = timeout === undefined ? undefined : performance.now() + timeout * 1000;
  while (!ready()) {
    throwIfAborted(signal);
    const remainingMs = deadline === undefined ? undefined : deadline - performance.now();
    if (remainingMs !== undefined && remainingMs <= 0) {
      throw new OperationTimeoutError(`No message arrived within ${timeout} s`);
    }
    if (connection && !connection.hub?.running) {
      const drainOptions: { timeout?: number; signal?: AbortSignal } = {};
      if (remainingMs !== undefined) drainOptions.timeout = remainingMs / 1000;
      if (signal) drainOptions.signal = signal;
      await connection.drainEvents(drainOptions);
    } else {
      // Waiting on someone else's hub: make sure there is one, or this wait never ends.
      await assertDriven?.();
      if (ready()) break;
      await nextWake(subscribe, remainingMs, timeout, signal);
    }
  }
}

function nextWake(
  subscribe: (wake: () => void) => () => void,
  remainingMs: number | undefined,
  timeout: number | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cleanup = (): void => {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      cleanup();
      reject(new AbortedError('The wait for a message was aborted', { cause: signal?.reason }));
    };
    const unsubscribe = subscribe(() => {
      cleanup();
      resolve();
    });
    if (remainingMs !== undefined) {
      timer = setTimeout(() => {
        cleanup();
        reject(new OperationTimeoutError(`No message arrived within ${timeout} s`));
      }, remainingMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What the iterator needs from its consumer. */
export interface MessageIteratorHost {
  /** Starts consuming (declares and basicConsume's) if not already. */
  startConsuming(): Promise<void>;
  /** Cancels consumption: no more deliveries arrive after it resolves. */
  stopConsuming(): Promise<void>;
  /** Hands delivered-but-unprocessed messages back to their queues. */
  restore(deliveryTags: readonly string[]): Promise<void>;
  /** Stops routing deliveries to this iterator. */
  detach(iterator: MessageIterator): void;
  toMessage(delivery: Delivery): Message;
  subscribe(wake: () => void): () => void;
  readonly drainable: DrainableConnection | undefined;
  /** Throws ConfigurationError when no hub will ever deliver (see Consumer.assertDriven). */
  assertDriven?(): Promise<void>;
}

export class MessageIterator implements AsyncIterableIterator<Message> {
  private readonly buffer: Delivery[] = [];
  private started = false;
  private finished = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly host: MessageIteratorHost,
    private readonly options: WaitOptions = {},
  ) {}

  /** Called by the consumer for each delivery while this iterator is attached. */
  push(delivery: Delivery): void {
    this.buffer.push(delivery);
  }

  /** How many delivered messages wait to be yielded. */
  get buffered(): number {
    return this.buffer.length;
  }

  async next(): Promise<IteratorResult<Message, undefined>> {
    if (this.finished) return { value: undefined, done: true };
    try {
      if (!this.started) {
        this.started = true;
        await this.host.startConsuming();
      }
      await waitUntilReady(
        () => this.buffer.length > 0 || this.finished,
        (wake) => this.host.subscribe(wake),
        this.host.drainable,
        this.options,
        this.host.assertDriven ? () => this.host.assertDriven?.() ?? Promise.resolve() : undefined,
      );
    } catch (error) {
      // Closed from outside (consumer.cancel(), connection.close()) while waiting: the loop just ends.
      if (this.finished) return { value: undefined, done: true };
      await this.close();
      throw error;
    }
    if (this.finished || this.buffer.length === 0) return { value: undefined, done: true };
    const delivery = this.buffer.shift() as Delivery;
    return { value: this.host.toMessage(delivery), done: false };
  }

  /** `break` / `return` in a for-await loop: cancel and restore what was not yielded. */
  async return(): Promise<IteratorResult<Message, undefined>> {
    await this.close();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<Message, undefined>> {
    await this.close();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Cancels the consumer, then restores buffered messages; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.finished = true;
    try {
      // Cancel while still attached, so a delivery racing the cancel lands in our buffer and is
      // restored below instead of reaching the consumer's callbacks.
      if (this.started) await this.host.stopConsuming();
    } finally {
      this.host.detach(this);
      const tags = this.buffer.filter((delivery) => !delivery.noAck).map((delivery) => delivery.deliveryTag);
      this.buffer.length = 0;
      if (tags.length > 0) await this.host.restore(tags);
    }
  }
}
