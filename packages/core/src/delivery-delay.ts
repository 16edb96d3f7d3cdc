/**
 * Delayed delivery: the `countdown` / `eta` options of `Producer.publish` and the `deliverAt` of
 * `channel.basicPublish`, validated here once. A delayed message is stored by the transport in a
 * per-queue delayed set and becomes visible in its queue at its due time (docs/wire-format.md#delayed-delivery).
 */
import { ConfigurationError } from './errors.js';

/**
 * The latest due time accepted (epoch ms): year 9999. A later one is a unit mistake (an `eta`
 * in microseconds, a countdown in milliseconds) that would hold the message for ever.
 */
const LATEST_DUE_MS = Date.UTC(9999, 11, 31);

/**
 * The due time (epoch ms) that `countdown` (seconds from now) or `eta` (a Date or an ISO 8601
 * string) ask for; undefined when neither is given.
 * @throws ConfigurationError naming the option for a negative or non-finite countdown, an
 *   unparsable or out-of-range eta, or both options at once.
 */
export function parseDelay(countdown: unknown, eta: unknown, context: string, now = Date.now()): number | undefined {
  if (countdown === undefined && eta === undefined) return undefined;
  if (countdown !== undefined && eta !== undefined) {
    throw new ConfigurationError(`${context}: pass either countdown (seconds from now) or eta (a time), not both`, { option: 'countdown' });
  }
  if (countdown !== undefined) {
    if (typeof countdown !== 'number' || !Number.isFinite(countdown) || countdown < 0) {
      throw new ConfigurationError(`${context}: countdown must be a finite number of seconds >= 0, got ${describe(countdown)}`, {
        option: 'countdown',
      });
    }
    return checkedDue(now + countdown * 1000, 'countdown', context);
  }
  let at: number;
  if (eta instanceof Date) at = eta.getTime();
  else if (typeof eta === 'string' && ISO_8601.test(eta)) at = Date.parse(eta);
  else at = Number.NaN;
  if (!Number.isFinite(at)) {
    throw new ConfigurationError(
      `${context}: eta must be a valid Date or an ISO 8601 string such as '2030-01-31T12:00:00Z', got ${describe(eta)}`,
      { option: 'eta' },
    );
  }
  return checkedDue(at, 'eta', context);
}

/**
 * Validates `channel.basicPublish`'s `deliverAt` (epoch milliseconds).
 * @throws ConfigurationError when it is not a finite number of milliseconds within range.
 */
export function parseDeliverAt(deliverAt: unknown, context: string): number | undefined {
  if (deliverAt === undefined) return undefined;
  if (typeof deliverAt !== 'number' || !Number.isFinite(deliverAt) || deliverAt < 0) {
    throw new ConfigurationError(`${context}: deliverAt must be a time in epoch milliseconds, got ${describe(deliverAt)}`, {
      option: 'deliverAt',
    });
  }
  return checkedDue(deliverAt, 'deliverAt', context);
}

/** A date and time, with or without zone; a bare number is refused (seconds or milliseconds?). */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function checkedDue(at: number, option: string, context: string): number {
  if (at > LATEST_DUE_MS) {
    throw new ConfigurationError(`${context}: ${option} puts the due time after the year 9999; is the unit wrong (countdown is in seconds)?`, {
      option,
    });
  }
  return Math.trunc(at);
}

function describe(value: unknown): string {
  if (value instanceof Date) return 'an invalid Date';
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value === 'number' ? String(value) : typeof value;
}
