/**
 * Message TTL (docs/wire-format.md#message-ttl). A message that can expire carries its deadline
 * as the FIRST member of the envelope, `{"x-kelp-expires-at":<epoch ms>,...`, so a pop (the
 * Redis script included) reads it with one anchored match instead of a parse. kelp's producer
 * writes it for `publish({ expiration })`; the publish step writes (or lowers) it for a queue
 * declared with `x-message-ttl`. Kombu ignores top-level members it does not know, and messages
 * without a TTL never carry it. An envelope without the member expires only when it carries the
 * AMQP `timestamp` property (epoch seconds) next to `expiration`: deadline = timestamp +
 * expiration. Pure functions over the text, shared by the producer, the brokers and admission.
 */
import { ConfigurationError } from '@kelp/core';

export const EXPIRES_AT_MEMBER = 'x-kelp-expires-at';
const STAMP_HEAD = `{"${EXPIRES_AT_MEMBER}":`;

/** The reason an expired message is dead-lettered with. */
export const EXPIRED_REASON = 'expired';

/** The deadline stamped at the front of `envelope` (epoch ms), or undefined when there is none. */
export function stampedDeadline(envelope: string): number | undefined {
  if (!envelope.startsWith(STAMP_HEAD)) return undefined;
  const end = envelope.indexOf(',', STAMP_HEAD.length);
  const at = Number(envelope.slice(STAMP_HEAD.length, end));
  return end > 0 && Number.isSafeInteger(at) ? at : undefined;
}

/**
 * `envelope` with the deadline `atMs` as its first member; an earlier deadline already there
 * wins (a message TTL and a queue TTL: the shorter applies, as on RabbitMQ). Text that is not a
 * JSON object is returned unchanged (admission dead-letters it).
 */
export function withDeadline(envelope: string, atMs: number): string {
  const deadline = Math.trunc(atMs);
  const current = stampedDeadline(envelope);
  if (current !== undefined) {
    return current <= deadline ? envelope : `${STAMP_HEAD}${deadline}${envelope.slice(envelope.indexOf(',', STAMP_HEAD.length))}`;
  }
  if (!envelope.startsWith('{')) return envelope;
  const rest = envelope.slice(1).trimStart();
  return rest.startsWith('}') ? envelope : `${STAMP_HEAD}${deadline},${rest}`;
}

/**
 * The deadline of a parsed envelope: the stamp, else `timestamp` (seconds) + `expiration` (ms
 * string) from its properties, else undefined (never expires).
 */
export function envelopeDeadline(raw: string, properties: Readonly<Record<string, unknown>>): number | undefined {
  const stamped = stampedDeadline(raw);
  if (stamped !== undefined) return stamped;
  const { timestamp } = properties;
  const ttl = expirationMs(properties['expiration']);
  return typeof timestamp === 'number' && Number.isFinite(timestamp) && ttl !== undefined ? timestamp * 1000 + ttl : undefined;
}

/**
 * An AMQP `expiration` property in milliseconds: Kombu's decimal string (`"30000"`) or a number
 * >= 0; undefined for anything else, which never expires (the pop script reads it the same way).
 */
export function expirationMs(expiration: unknown): number | undefined {
  if (typeof expiration === 'string') return /^\d+$/.test(expiration) ? Number(expiration) : undefined;
  return typeof expiration === 'number' && Number.isFinite(expiration) && expiration >= 0 ? expiration : undefined;
}

/**
 * The deadline of an envelope that has not been parsed: the stamp, or (only when the text names
 * an expiration at all) what {@link envelopeDeadline} finds after a parse.
 */
export function payloadDeadline(payload: string): number | undefined {
  const stamped = stampedDeadline(payload);
  if (stamped !== undefined || !payload.includes('"expiration"')) return stamped;
  try {
    const properties = (JSON.parse(payload) as { properties?: unknown }).properties;
    return typeof properties === 'object' && properties !== null ? envelopeDeadline(payload, properties as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The `x-message-ttl` queue argument in milliseconds (a non-negative integer, as RabbitMQ takes
 * it), undefined when absent. Anything else is refused when the queue is declared.
 */
export function queueMessageTtl(args: Readonly<Record<string, unknown>> | undefined): number | undefined {
  const value = args?.['x-message-ttl'];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigurationError(`Queue argument x-message-ttl must be a whole number of milliseconds >= 0, got ${JSON.stringify(value)}`, {
      option: 'x-message-ttl',
    });
  }
  return value;
}
