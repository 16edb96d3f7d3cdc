/** A move's route rewrite done in the envelope's text, so large integers keep every digit. */
import { describe, expect, it } from 'vitest';
import { rerouted } from '../src/admin/admin-repair.js';
import { rerouteText } from '../src/admin/reroute-text.js';

const routeOf = (raw: string) => (JSON.parse(raw) as { properties: { delivery_info: unknown } }).properties.delivery_info;

describe('rerouteText', () => {
  it('rewrites delivery_info and leaves integers beyond 2^53 in headers and body as they were', () => {
    const raw =
      '{"body": "{\\"n\\": 12345678901234567891}", "headers": {"id": 98765432109876543210, "note": "a } \\" { \\"properties\\": x"}, ' +
      '"properties": {"delivery_info": {"exchange": "celery", "routing_key": "celery", "extra": [1, {"a": 2}]}, "priority": 0, "big": -9007199254740993}}';
    const moved = rerouted({ raw, rawEncoding: 'utf8' }, 'parked').raw;
    expect(moved).toContain('"id": 98765432109876543210');
    expect(moved).toContain('"big": -9007199254740993');
    expect(moved).toContain('12345678901234567891');
    expect(routeOf(moved)).toEqual({ exchange: '', routing_key: 'parked', extra: [1, { a: 2 }] });
    expect(moved.replace('"exchange": ""', '"exchange": "celery"').replace('"routing_key": "parked"', '"routing_key": "celery"')).toBe(raw);
  });

  it('adds a missing delivery_info, replaces one that is not an object, and follows the last duplicate key', () => {
    expect(routeOf(rerouteText('{"properties": {}}', 'q') as string)).toEqual({ exchange: '', routing_key: 'q' });
    expect(routeOf(rerouteText('{"properties": {"priority": 1}}', 'q') as string)).toEqual({ exchange: '', routing_key: 'q' });
    expect(routeOf(rerouteText('{"properties": {"delivery_info": null}}', 'q"x') as string)).toEqual({ exchange: '', routing_key: 'q"x' });
    const duplicate = rerouteText('{"properties": {"delivery_info": {"routing_key": "a"}, "delivery_info": {"routing_key": "b"}}}', 'q') as string;
    expect(routeOf(duplicate)).toEqual({ exchange: '', routing_key: 'q' });
    expect(rerouteText('{"body": "x"}', 'q')).toBeUndefined();
  });
});
