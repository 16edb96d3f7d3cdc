/**
 * The broker's unacked records: a delivery is recorded under the tag read from the envelope's
 * text, and never over a record another delivery holds.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../src/memory-broker.js';

const envelope = (properties: Record<string, unknown>): string =>
  JSON.stringify({ body: 'e30=', 'content-encoding': 'utf-8', 'content-type': 'application/json', headers: {}, properties });

const route = { delivery_info: { exchange: '', routing_key: 'q' }, priority: 0, body_encoding: 'base64' };

describe('MemoryBroker records', () => {
  it('records a delivery under its properties tag, with the route read when asked for', () => {
    const broker = new MemoryBroker();
    broker.put('q', envelope({ ...route, delivery_tag: 't-1' }), 0);
    expect(broker.take('q', false)?.deliveryTag).toBe('t-1');
    expect(broker.unackedEntry('t-1')).toMatchObject({ exchange: '', routingKey: 'q' });
  });

  it('does not write over a record in flight when a nested object in properties names its tag', () => {
    const broker = new MemoryBroker();
    const held = envelope({ ...route, delivery_tag: 'held' });
    broker.put('q', held, 0);
    expect(broker.take('q', false)?.deliveryTag).toBe('held');
    // No properties.delivery_tag: only a nested object holds the key, after delivery_info.
    broker.put('q', envelope({ ...route, extra: { delivery_tag: 'held' } }), 0);
    const taken = broker.take('q', false);
    expect(taken?.deliveryTag).toBeUndefined();
    expect(broker.unackedEntry('held')?.envelope).toBe(held);
    expect(broker.unackedCount).toBe(1);
  });
});
