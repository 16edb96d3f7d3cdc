/**
 * Queue expiry (docs/wire-format.md#queue-expiry): the queue argument `x-expires` (milliseconds,
 * as RabbitMQ and Kombu HEAD take it). A queue nobody uses for that long (no consumer, no get,
 * no redeclaration) is deleted with its messages, its delayed messages, its dead letters and its
 * arguments. Publishing is not use, as on RabbitMQ. Consumers keep their queues in use by
 * touching them when they start consuming and then every min({@link QUEUE_TOUCH_INTERVAL_MS},
 * x-expires / 3), from a Node interval of the transport's poller rather than a hub timer, so a
 * program that runs the hub only in `drainEvents()` keeps its queues between two drains.
 */
import { ConfigurationError } from '@kelp/core';

/**
 * The shortest `x-expires` accepted (ms): a consumed queue is touched three times within it, so
 * one late or failed touch does not delete a queue under a healthy consumer.
 */
export const MIN_QUEUE_EXPIRES_MS = 1000;

/** The longest gap between two touches of a consumed queue (ms). */
export const QUEUE_TOUCH_INTERVAL_MS = 1000;

/** How often the consumers' touch interval runs: a third of the shortest accepted x-expires. */
export const QUEUE_TOUCH_TICK_MS = Math.floor(MIN_QUEUE_EXPIRES_MS / 3);

/** How often a consumed queue with this x-expires is touched: min(1000 ms, x-expires / 3). */
export function queueTouchInterval(expiresMs: number): number {
  return Math.min(QUEUE_TOUCH_INTERVAL_MS, Math.floor(expiresMs / 3));
}

/**
 * Calls `touch` every {@link QUEUE_TOUCH_TICK_MS} on a Node interval, unref'd so it never keeps
 * a process alive; returns the function that stops it. Not a hub timer: hub timers fire only
 * while the hub runs, and a program that drains events between long stretches of work would let
 * its consumed queues expire meanwhile.
 */
export function startQueueTouches(touch: () => void): () => void {
  const timer = setInterval(touch, QUEUE_TOUCH_TICK_MS);
  timer.unref?.();
  return () => clearInterval(timer);
}

/**
 * The `x-expires` queue argument in milliseconds (a whole number >= {@link MIN_QUEUE_EXPIRES_MS};
 * RabbitMQ takes any value > 0, but a shorter one could delete a consumed queue between two
 * touches), undefined when absent; anything else is refused when the queue is declared.
 */
export function queueExpires(args: Readonly<Record<string, unknown>> | undefined): number | undefined {
  const value = args?.['x-expires'];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < MIN_QUEUE_EXPIRES_MS) {
    throw new ConfigurationError(`Queue argument x-expires must be a whole number of milliseconds >= ${MIN_QUEUE_EXPIRES_MS}, got ${JSON.stringify(value)}`, {
      option: 'x-expires',
    });
  }
  return value;
}
