/**
 * Publishing one Celery event as Celery's EventDispatcher does on Redis (docs/celery.md#events):
 * JSON on the `celeryev` fanout exchange, routing key the type with dots, header `hostname`,
 * transient delivery, body `hostname`, `utcoffset`, `pid`, `clock`, the fields, `timestamp`, `type`.
 */
import { Exchange, type Producer } from '@kelp/core';
import { pyJsonDumps } from './py-json.js';

export const EVENT_EXCHANGE = 'celeryev';

const eventExchange = new Exchange(EVENT_EXCHANGE, { type: 'fanout', durable: true, deliveryMode: 1 });

export async function publishEvent(producer: Producer, event: { hostname: string; clock: number; type: string; fields: Record<string, unknown> }): Promise<void> {
  const body = {
    hostname: event.hostname,
    utcoffset: Math.round(new Date().getTimezoneOffset() / 60),
    pid: process.pid,
    clock: event.clock,
    ...event.fields,
    timestamp: Date.now() / 1000,
    type: event.type,
  };
  await producer.publish(pyJsonDumps(body), {
    exchange: eventExchange,
    routingKey: event.type.replace(/-/g, '.'),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { hostname: event.hostname },
    deliveryMode: 1,
    declare: [eventExchange],
  });
}

