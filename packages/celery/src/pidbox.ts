/**
 * Celery's remote control mailbox on Redis (docs/celery.md#revoke): a command is a message on the
 * fanout exchange `celery.pidbox`, body `{"method", "arguments", "destination", "pattern",
 * "matcher"}` and headers `{"clock", "expires"}` (a Unix time one second ahead, as Celery's
 * `control.broadcast` default timeout), which every worker's `<node>.celery.pidbox` queue receives.
 */
import { Exchange, type HeaderValue, type Producer } from '@kelp/core';
import { pyJsonDumps } from './py-json.js';

export const PIDBOX_EXCHANGE = 'celery.pidbox';

export const pidboxExchange = (): Exchange => new Exchange(PIDBOX_EXCHANGE, { type: 'fanout', durable: false, autoDelete: false });

export interface BroadcastOptions {
  destination?: string[] | null;
  /** Sent in the `clock` header (Celery's Lamport clock value). */
  clock: number;
  /** Seconds the command stays valid (Celery's `timeout`, default 1). */
  timeout?: number;
  replyTo?: { exchange: string; routing_key: string };
  ticket?: string;
}

export async function broadcast(producer: Producer, method: string, args: Record<string, HeaderValue>, options: BroadcastOptions): Promise<void> {
  const body: Record<string, HeaderValue> = {
    method,
    arguments: args,
    destination: options.destination ?? null,
    pattern: null,
    matcher: null,
  };
  if (options.replyTo) {
    body['reply_to'] = options.replyTo;
    body['ticket'] = options.ticket ?? null;
  }
  const headers: Record<string, HeaderValue> = { clock: options.clock, expires: Date.now() / 1000 + (options.timeout ?? 1) };
  const exchange = pidboxExchange();
  await producer.publish(pyJsonDumps(body), {
    exchange,
    routingKey: '',
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers,
    declare: [exchange],
  });
}
