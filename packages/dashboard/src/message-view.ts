/**
 * A stored message as the page shows it: the Kombu envelope read leniently (a dashboard must show
 * what is broken, not refuse it), the body decoded as far as it safely can be, and bounded in
 * size. Text is returned as data, never markup: the page puts it in text nodes only.
 */
import { Buffer } from 'node:buffer';

export interface BodyView {
  /** `json` pretty-printed, `text` UTF-8 text, `hex` bytes that are not UTF-8 (or compressed). */
  kind: 'json' | 'text' | 'hex';
  text: string;
  /** Size of the decoded body in bytes. */
  bytes: number;
  /** True when `text` stops before the end of the body. */
  truncated: boolean;
}

/** What a Celery task message carries (protocol 2 headers, or protocol 1 body). */
export interface TaskView {
  name: string;
  id?: string;
  args?: unknown;
  kwargs?: unknown;
  eta?: string | null;
  retries?: number;
}

export interface MessageView {
  contentType?: string;
  contentEncoding?: string;
  deliveryTag?: string;
  priority?: number;
  exchange?: string;
  routingKey?: string;
  redelivered?: boolean;
  headers: Record<string, unknown>;
  body: BodyView;
  task?: TaskView;
  /** Set when the stored text is not a Kombu envelope: the body is then the stored text itself. */
  problem?: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function hex(bytes: Uint8Array, limit: number): { text: string; truncated: boolean } {
  const shown = bytes.subarray(0, Math.max(1, Math.floor(limit / 3)));
  const text = Buffer.from(shown).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return { text, truncated: shown.length < bytes.length };
}

function clip(text: string, limit: number): { text: string; truncated: boolean } {
  return text.length > limit ? { text: text.slice(0, limit), truncated: true } : { text, truncated: false };
}

/** The body bytes shown as JSON, text or hex, at most `limit` characters. */
export function viewBody(bytes: Uint8Array, contentType: string | undefined, compressed: boolean, limit: number): BodyView {
  let text: string | undefined;
  if (!compressed) {
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      text = undefined;
    }
  }
  if (text === undefined || /[\0-\x08\x0e-\x1f]/.test(text)) {
    return { kind: 'hex', bytes: bytes.length, ...hex(bytes, limit) };
  }
  if (contentType === undefined || /json/i.test(contentType)) {
    try {
      // Compact in lists (a line or two each), indented when one message is shown whole.
      return { kind: 'json', bytes: bytes.length, ...clip(JSON.stringify(JSON.parse(text), null, limit > 1000 ? 2 : 0), limit) };
    } catch {
      // Not JSON after all: shown as text.
    }
  }
  return { kind: 'text', bytes: bytes.length, ...clip(text, limit) };
}

function bodyBytes(envelope: Record<string, unknown>, properties: Record<string, unknown>): Uint8Array {
  const body = envelope['body'];
  if (typeof body !== 'string') return Buffer.from(JSON.stringify(body ?? null));
  return properties['body_encoding'] === 'base64' ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

/** The Celery task in a message, protocol 2 (task in headers) or 1 (task in the body). */
function taskOf(headers: Record<string, unknown>, decoded: unknown): TaskView | undefined {
  const name = str(headers['task']);
  if (name !== undefined) {
    const [args, kwargs] = Array.isArray(decoded) ? decoded : [];
    return {
      name,
      ...(str(headers['id']) === undefined ? {} : { id: str(headers['id']) as string }),
      args,
      kwargs,
      eta: str(headers['eta']) ?? null,
      ...(typeof headers['retries'] === 'number' ? { retries: headers['retries'] } : {}),
    };
  }
  const body = record(decoded);
  const v1name = str(body?.['task']);
  if (body === undefined || v1name === undefined) return undefined;
  return {
    name: v1name,
    ...(str(body['id']) === undefined ? {} : { id: str(body['id']) as string }),
    args: body['args'],
    kwargs: body['kwargs'],
    eta: str(body['eta']) ?? null,
    ...(typeof body['retries'] === 'number' ? { retries: body['retries'] } : {}),
  };
}

/** Bounded copy of header values: a huge header must not make a list heavy. */
function boundedHeaders(headers: Record<string, unknown>, limit: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    out[name] = text !== undefined && text.length > limit ? `${text.slice(0, limit)}…` : value;
  }
  return out;
}

/**
 * The view of one stored message. `raw` is the stored text (`rawEncoding` base64 when the stored
 * bytes were not UTF-8); `limit` bounds the body text (about 200 in lists, 64 KiB for one).
 */
export function viewMessage(raw: string, rawEncoding: 'utf8' | 'base64', limit: number): MessageView {
  const stored = rawEncoding === 'base64' ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  let envelope: Record<string, unknown> | undefined;
  if (rawEncoding === 'utf8') {
    try {
      envelope = record(JSON.parse(raw));
    } catch {
      envelope = undefined;
    }
  }
  if (envelope === undefined || !('body' in envelope)) {
    return { headers: {}, body: viewBody(stored, undefined, false, limit), problem: 'not a Kombu envelope: shown as stored' };
  }
  const properties = record(envelope['properties']) ?? {};
  const deliveryInfo = record(properties['delivery_info']) ?? {};
  const headers = record(envelope['headers']) ?? {};
  const contentType = str(envelope['content-type']);
  const compressed = str(headers['compression']) !== undefined;
  const bytes = bodyBytes(envelope, properties);
  const body = viewBody(bytes, contentType, compressed, limit);
  let decoded: unknown;
  if (body.kind === 'json' && !body.truncated) decoded = JSON.parse(body.text);
  else if (body.kind === 'json' || (contentType !== undefined && /json/i.test(contentType))) {
    try {
      decoded = JSON.parse(strictUtf8.decode(bytes));
    } catch {
      decoded = undefined;
    }
  }
  const task = taskOf(headers, decoded);
  const priority = properties['priority'];
  const view: MessageView = { headers: boundedHeaders(headers, Math.max(limit, 200)), body };
  if (contentType !== undefined) view.contentType = contentType;
  const contentEncoding = str(envelope['content-encoding']);
  if (contentEncoding !== undefined) view.contentEncoding = contentEncoding;
  const deliveryTag = str(properties['delivery_tag']);
  if (deliveryTag !== undefined) view.deliveryTag = deliveryTag;
  if (typeof priority === 'number') view.priority = priority;
  const exchange = str(deliveryInfo['exchange']);
  if (exchange !== undefined) view.exchange = exchange;
  const routingKey = str(deliveryInfo['routing_key']);
  if (routingKey !== undefined) view.routingKey = routingKey;
  if (typeof properties['redelivered'] === 'boolean') view.redelivered = properties['redelivered'];
  if (task) view.task = task;
  return view;
}
