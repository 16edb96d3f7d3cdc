/**
 * Queue expiry (docs/wire-format.md#queue-expiry): the queue argument `x-expires` (milliseconds,
 * as RabbitMQ and Kombu HEAD take it). A queue nobody uses for that long (no consumer, no get,
 * no redeclaration) is deleted with its messages, its delayed messages, its dead letters and its
 * arguments. Publishing is not use, as on RabbitMQ. Consumers keep their queues in use by
 * touching them every {@link QUEUE_TOUCH_INTERVAL_MS} from the poller.
 */
import { ConfigurationError } from '@kelp/core';

/**
 * How often a process touches the queues it consumes. An `x-expires` shorter than about twice
 * this could delete a consumed queue whose process stalls between two touches.
 */
export const QUEUE_TOUCH_INTERVAL_MS = 1000;

/**
 * The `x-expires` queue argument in milliseconds (a whole number > 0, as RabbitMQ requires),
 * undefined when absent; anything else is refused when the queue is declared.
 */
export function queueExpires(args: Readonly<Record<string, unknown>> | undefined): number | undefined {
  const value = args?.['x-expires'];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigurationError(`Queue argument x-expires must be a whole number of milliseconds > 0, got ${JSON.stringify(value)}`, {
      option: 'x-expires',
    });
  }
  return value;
}
