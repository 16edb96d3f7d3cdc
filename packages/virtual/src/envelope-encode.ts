/**
 * Writing Kombu's JSON message envelope (docs/wire-format.md#envelope): what every virtual
 * transport stores in a queue for a publish. Split from envelope.ts (reading) to keep files short;
 * publishing runs this once per message, so the common case writes the text directly (see
 * writeEnvelopeFast).
 */
import { Buffer } from 'node:buffer';
import type { OutboundMessage } from '@kelp/core';
import { expirationMs, withDeadline } from './message-expiry.js';
import { clampPriority } from './priority.js';
import { pythonJsonDumps } from './python-json.js';

/**
 * camelCase property names and their Kombu wire spelling. Other keys travel unchanged. Without a
 * prototype, so a property named `constructor` or `toString` is not looked up as Object's own.
 */
const PROPERTY_WIRE_NAMES: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, {
  correlationId: 'correlation_id',
  replyTo: 'reply_to',
  messageId: 'message_id',
  userId: 'user_id',
  appId: 'app_id',
  clusterId: 'cluster_id',
  deliveryMode: 'delivery_mode',
  contentType: 'content_type',
  contentEncoding: 'content_encoding',
});
/** Wire spelling -> camelCase; envelope.ts uses it when reading. */
export const PROPERTY_CAMEL_NAMES: Readonly<Record<string, string>> = Object.assign(
  Object.create(null) as Record<string, string>,
  Object.fromEntries(Object.entries(PROPERTY_WIRE_NAMES).map(([camel, wire]) => [wire, camel])),
);
/** Written by the codec itself in Kombu's order; never copied from the caller's extras. */
const CODEC_PROPERTIES = new Set(['priority', 'deliveryMode', 'delivery_mode', 'expiration']);

export interface EncodeEnvelopeOptions {
  /**
   * Write Python `json.dumps` formatting (`", "`, `": "`, ASCII-only) instead of compact JSON.
   * Kombu reads either; this exists for byte-for-byte comparisons with captured traffic.
   */
  pythonSeparators?: boolean;
  /**
   * When the message becomes visible (epoch ms; a delayed message's due time): its `expiration`
   * counts from then. Default: now.
   */
  visibleAt?: number;
}

/** The envelope object in Kombu's insertion order (docs/wire-format.md#json-layout). */
function buildEnvelope(message: OutboundMessage, exchange: string, routingKey: string, deliveryTag: string) {
  const properties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message.properties)) {
    if (value === undefined || CODEC_PROPERTIES.has(key)) continue;
    properties[PROPERTY_WIRE_NAMES[key] ?? key] = value;
  }
  // Kombu's Producer always writes delivery_mode (default persistent); mirror it so a Python
  // consumer sees the same properties whoever published.
  properties.delivery_mode = message.properties.deliveryMode ?? message.properties.delivery_mode ?? 2;
  if (message.properties.expiration !== undefined) properties.expiration = message.properties.expiration;
  properties.delivery_info = { exchange, routing_key: routingKey };
  properties.priority = clampPriority(message.properties.priority ?? 0);
  properties.body_encoding = 'base64';
  properties.delivery_tag = deliveryTag;
  return {
    body: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString('base64'),
    'content-encoding': message.contentEncoding,
    'content-type': message.contentType,
    headers: message.headers,
    properties,
  };
}

/**
 * Builds the Kombu JSON envelope for `message` (docs/wire-format.md#envelope): base64 body,
 * snake_case properties (extras first, then delivery_mode, expiration, delivery_info, priority,
 * body_encoding, delivery_tag).
 */
export function encodeEnvelope(
  message: OutboundMessage,
  exchange: string,
  routingKey: string,
  deliveryTag: string,
  options?: EncodeEnvelopeOptions,
): string {
  const text = options?.pythonSeparators
    ? pythonJsonDumps(buildEnvelope(message, exchange, routingKey, deliveryTag))
    : (writeEnvelopeFast(message, exchange, routingKey, deliveryTag) ?? JSON.stringify(buildEnvelope(message, exchange, routingKey, deliveryTag)));
  const deadline = expirationDeadline(message.properties.expiration, options?.visibleAt);
  return deadline === undefined ? text : withDeadline(text, deadline);
}

/**
 * When a message published now with this `expiration` (milliseconds, Kombu's wire form) expires;
 * undefined without one. Only such messages carry the deadline (message-expiry.ts).
 */
function expirationDeadline(expiration: string | undefined, visibleAt: number | undefined): number | undefined {
  const ms = expirationMs(expiration);
  return ms === undefined ? undefined : (visibleAt ?? Date.now()) + ms;
}

/**
 * Wire names an extra property must not have for {@link writeEnvelopeFast}: the codec writes them
 * itself, and in an object an extra of that name would hold the key's (earlier) position.
 */
const CODEC_WIRE_NAMES = new Set(['delivery_mode', 'expiration', 'delivery_info', 'priority', 'body_encoding', 'delivery_tag', '__proto__']);

/**
 * `JSON.stringify(buildEnvelope(...))` written directly: the same text without the envelope
 * objects in between (this runs once per publish, and the objects and the generic stringify are
 * most of its cost). Returns undefined whenever the object form could come out differently (a
 * missing field, a value JSON leaves out, an extra whose key an object would reorder or merge),
 * and the caller then takes the generic path; test/envelope tests pin both to the same bytes.
 */
function writeEnvelopeFast(message: OutboundMessage, exchange: string, routingKey: string, deliveryTag: string): string | undefined {
  const { contentEncoding, contentType, headers, properties: props } = message;
  if (typeof contentEncoding !== 'string' || typeof contentType !== 'string' || typeof headers !== 'object' || headers === null) return undefined;
  let extras = '';
  for (const key in props) {
    if (!Object.prototype.hasOwnProperty.call(props, key)) continue;
    const value = props[key];
    if (value === undefined || CODEC_PROPERTIES.has(key)) continue;
    const wire = PROPERTY_WIRE_NAMES[key];
    // A snake_case spelling could meet its camelCase twin (one key in an object); an
    // integer-like key would be moved to the front by the object; both are rare: generic path.
    if (wire === undefined && (PROPERTY_CAMEL_NAMES[key] !== undefined || CODEC_WIRE_NAMES.has(key) || isArrayIndexLike(key))) return undefined;
    const json = JSON.stringify(value) as string | undefined;
    if (json === undefined) return undefined;
    extras += `${quote(wire ?? key)}:${json},`;
  }
  const modeValue = props.deliveryMode ?? props.delivery_mode ?? 2;
  const mode = modeValue === 2 ? '2' : (JSON.stringify(modeValue) as string | undefined);
  if (mode === undefined) return undefined;
  let expiration = '';
  if (props.expiration !== undefined) {
    const json = typeof props.expiration === 'string' ? quote(props.expiration) : (JSON.stringify(props.expiration) as string | undefined);
    if (json === undefined) return undefined;
    expiration = `,"expiration":${json}`;
  }
  return (
    `{"body":"${toBase64(message.body)}${contentSegments.get(contentEncoding, contentType)}${JSON.stringify(headers)},` +
    `"properties":{${extras}"delivery_mode":${mode}${expiration}${routeSegments.get(exchange, routingKey)}` +
    `${clampPriority(props.priority ?? 0)},"body_encoding":"base64","delivery_tag":${quote(deliveryTag)}}}`
  );
}

/**
 * Envelope text that depends only on two strings which repeat from message to message (content
 * type and encoding; exchange and routing key), made once per pair instead of quoted and joined
 * per publish. Bounded: emptied when it holds {@link SEGMENTS_KEPT} pairs.
 */
class SegmentCache {
  private readonly pairs = new Map<string, Map<string, string>>();
  private size = 0;

  constructor(private readonly make: (first: string, second: string) => string) {}

  get(first: string, second: string): string {
    let inner = this.pairs.get(first);
    let text = inner?.get(second);
    if (text !== undefined) return text;
    if (this.size >= SEGMENTS_KEPT) {
      this.pairs.clear();
      this.size = 0;
      inner = undefined;
    }
    text = this.make(first, second);
    if (inner === undefined) {
      inner = new Map();
      this.pairs.set(first, inner);
    }
    inner.set(second, text);
    this.size += 1;
    return text;
  }
}

const SEGMENTS_KEPT = 1024;
const contentSegments = new SegmentCache((encoding, type) => `","content-encoding":${quote(encoding)},"content-type":${quote(type)},"headers":`);
const routeSegments = new SegmentCache((exchange, routingKey) => `,"delivery_info":{"exchange":${quote(exchange)},"routing_key":${quote(routingKey)}},"priority":`);

/**
 * `JSON.stringify(text)` for a string: printable ASCII without '"' or '\\' (content types, queue
 * names, uuids) is quoted as is, since JSON.stringify costs a call even then; anything
 * else goes to JSON.stringify.
 */
function quote(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/**
 * Node's own base64 encoder called on the view itself: Buffer.from(view.buffer, ...) first only
 * made a Buffer object to call it on (half the cost for a 200-byte body). Falls back to that where
 * the method is missing (it is not documented API).
 */
const base64Slice = (Buffer.prototype as unknown as { base64Slice?: (this: Uint8Array, start: number, end: number) => string }).base64Slice;
function toBase64(bytes: Uint8Array): string {
  if (typeof base64Slice === 'function') return base64Slice.call(bytes, 0, bytes.byteLength);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Keys an object orders before all others (array indices: "0" .. "4294967294"). */
function isArrayIndexLike(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57;
}
