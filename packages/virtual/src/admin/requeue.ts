/**
 * Dead letters going back to their queue: only valid envelopes, and with the redelivery count and
 * the TTL deadline removed so a redelivery limit or an expiry does not send them straight back.
 */
import { Buffer } from 'node:buffer';
import type { DeadLetterEntry } from '@kelp/core';
import { DELIVERY_COUNT_HEADER, parseEnvelope } from '../envelope.js';
import { EXPIRES_AT_MEMBER } from '../message-expiry.js';

export interface RequeueableEnvelope {
  json: string;
  priority: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The envelope to requeue, or undefined when the dead letter is not a valid one. */
export function requeueableEnvelope(entry: Pick<DeadLetterEntry, 'raw' | 'rawEncoding'>): RequeueableEnvelope | undefined {
  let text = entry.raw;
  if (entry.rawEncoding === 'base64') {
    try {
      text = strictUtf8.decode(Buffer.from(entry.raw, 'base64'));
    } catch {
      return undefined;
    }
  }
  const parsed = parseEnvelope(text);
  if (!parsed.ok) return undefined;
  const data = JSON.parse(text) as Record<string, unknown>;
  const headers = data['headers'];
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) delete (headers as Record<string, unknown>)[DELIVERY_COUNT_HEADER];
  delete data[EXPIRES_AT_MEMBER];
  return { json: JSON.stringify(data), priority: parsed.envelope.priority };
}
