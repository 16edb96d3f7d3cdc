/**
 * `Connection.drainEvents`: wait until the transport has delivered at least one message, or a
 * consumer has finished handling one from an earlier delivery (Kombu's one-event-per-drain loop
 * then works with async callbacks too).
 *
 * Transports deliver only from Hub callbacks. When nobody is running the hub, the drain runs it
 * itself (`hub.runUntil`); when the hub is already running (a worker's `runForever`), a second
 * loop is not allowed, so the drain just waits for the transport's next 'delivery' event.
 */
import type { Hub } from '@kelp/hub';
import { AbortedError, OperationalError, OperationTimeoutError, throwIfAborted } from './errors.js';
import { OptionNames } from './option-parsing.js';
import type { Transport } from './transport.js';

export interface DrainOptions {
  /** Seconds to wait for a delivery; undefined waits until one arrives. */
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

const DRAIN_OPTION_NAMES = OptionNames.of<DrainOptions>({ timeout: true, signal: true });

/**
 * Refuses unknown option names before anything waits: `{ timeoutMs: 10 }` would otherwise be
 * a drain without a timeout, waiting for ever.
 */
export function checkDrainOptions(options: DrainOptions): void {
  DRAIN_OPTION_NAMES.check(options, 'drainEvents');
}

/** Makes connection-lost errors safe to show (no password) before they are thrown. */
export type ErrorSanitizer = (error: Error) => Error;

/** Subscribes to "a consumer finished handling a message"; returns the unsubscriber. */
export type ProgressSubscription = (listener: () => void) => () => void;

export async function drainEvents(
  transport: Transport,
  hub: Hub,
  options: DrainOptions,
  sanitize: ErrorSanitizer,
  onProgress?: ProgressSubscription,
): Promise<void> {
  const { timeout, signal } = options;
  throwIfAborted(signal);
  let delivered = false;
  let lost: Error | undefined;
  let wake: (() => void) | undefined;
  const onDelivery = (): void => {
    delivered = true;
    wake?.();
  };
  const onLost = (error: Error): void => {
    lost = error;
    wake?.();
  };
  transport.on('delivery', onDelivery);
  transport.on('connectionLost', onLost);
  // A message handled from an earlier delivery's backlog is progress too (see Connection.noteHandled).
  const stopProgress = onProgress?.(onDelivery);
  try {
    let finished: boolean;
    if (hub.running) {
      finished = await waitForEvent(timeout, signal, (resolve) => {
        wake = () => resolve(true);
      });
    } else {
      try {
        finished = await hub.runUntil(() => delivered || lost !== undefined, {
          ...(timeout === undefined ? {} : { timeoutMs: Math.max(0, timeout * 1000) }),
          ...(signal === undefined ? {} : { signal }),
        });
      } catch (error) {
        if (signal?.aborted) throw new AbortedError('drainEvents was aborted', { cause: signal.reason });
        throw error;
      }
    }
    if (lost !== undefined) {
      const safe = sanitize(lost);
      throw new OperationalError(`The connection was lost while draining events: ${safe.message}`, { cause: safe });
    }
    if (delivered) return;
    throwIfAborted(signal);
    if (!finished) {
      throw new OperationTimeoutError(
        timeout === undefined ? 'drainEvents stopped before a message arrived' : `No message arrived within ${timeout}s (drainEvents timeout)`,
      );
    }
  } finally {
    transport.off('delivery', onDelivery);
    transport.off('connectionLost', onLost);
    stopProgress?.();
  }
}

/** Resolves true when `arm`'s callback fires, false on timeout; rejects with AbortedError on abort. */
function waitForEvent(
  timeout: number | undefined,
  signal: AbortSignal | undefined,
  arm: (resolve: (value: boolean) => void) => void,
): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => {
      settle();
      reject(new AbortedError('drainEvents was aborted', { cause: signal?.reason }));
    };
    const settle = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    arm((value) => {
      settle();
      resolve(value);
    });
    if (timeout !== undefined) {
      timer = setTimeout(() => {
        settle();
        resolve(false);
      }, Math.max(0, timeout * 1000));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
