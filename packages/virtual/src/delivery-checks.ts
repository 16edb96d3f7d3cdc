/**
 * Checks a channel makes on a message taken from storage before handing it to a consumer: the
 * size limit, the redelivery limit and Celery's ETA. Pure functions, kept apart from the channel
 * so each rule is stated (and tested) once.
 */
import { Buffer } from 'node:buffer';
import { deliveryCount } from './envelope.js';

/**
 * Why a stored envelope is over `maxBytes` (UTF-8 bytes as stored), or undefined when it fits or
 * there is no limit. Checked before parsing, so a huge message is never decoded.
 */
export function oversizeReason(payload: string, maxBytes: number | undefined): string | undefined {
  if (maxBytes === undefined) return undefined;
  // A UTF-8 byte count is at least the UTF-16 length and at most 3x it: count only when unsure.
  if (payload.length * 3 <= maxBytes) return undefined;
  const bytes = Buffer.byteLength(payload, 'utf8');
  return bytes > maxBytes ? `message of ${bytes} bytes is over maxMessageBytes (${maxBytes})` : undefined;
}

/** Why a message redelivered too often must not be delivered again, or undefined. */
export function redeliveryLimitReason(headers: Readonly<Record<string, unknown>>, maxRedeliveries: number | undefined): string | undefined {
  if (maxRedeliveries === undefined) return undefined;
  const count = deliveryCount(headers);
  return count > maxRedeliveries ? `redelivered ${count} times, over the limit of ${maxRedeliveries}` : undefined;
}

/**
 * Celery's `eta` header (ISO-8601, e.g. `2026-11-21T20:30:00.123456+00:00`) as epoch seconds, or
 * undefined when missing or unreadable. A Celery worker holds such a message unacked until due.
 */
export function etaSeconds(headers: Readonly<Record<string, unknown>>): number | undefined {
  const eta = headers['eta'];
  if (typeof eta !== 'string' || eta === '') return undefined;
  // Date.parse takes at most millisecond precision: drop extra fraction digits Python writes.
  const ms = Date.parse(eta.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}
