import { describe, expect, it } from 'vitest';
import { etaSeconds, oversizeReason, redeliveryLimitReason } from '../src/delivery-checks.js';
import { DELIVERY_COUNT_HEADER, markRedelivered } from '../src/index.js';

describe('oversizeReason', () => {
  it('counts UTF-8 bytes, not characters', () => {
    expect(oversizeReason('é'.repeat(6), 11)).toBe('message of 12 bytes is over maxMessageBytes (11)');
    expect(oversizeReason('é'.repeat(6), 12)).toBeUndefined();
  });

  it('has no limit when unset', () => {
    expect(oversizeReason('x'.repeat(10_000), undefined)).toBeUndefined();
  });
});

describe('redeliveryLimitReason', () => {
  it('allows up to the limit and refuses the delivery after it', () => {
    expect(redeliveryLimitReason({ [DELIVERY_COUNT_HEADER]: 2 }, 2)).toBeUndefined();
    expect(redeliveryLimitReason({ [DELIVERY_COUNT_HEADER]: 3 }, 2)).toBe('redelivered 3 times, over the limit of 2');
  });
});

describe('etaSeconds', () => {
  it('reads Celery ISO-8601 with microseconds and an offset', () => {
    expect(etaSeconds({ eta: '2026-11-21T20:30:00.123456+00:00' })).toBe(Date.UTC(2026, 10, 21, 20, 30, 0, 123) / 1000);
  });

  it('ignores a missing, null or unreadable eta', () => {
    expect([etaSeconds({}), etaSeconds({ eta: null }), etaSeconds({ eta: 'soon' })]).toEqual([undefined, undefined, undefined]);
  });
});

describe('markRedelivered', () => {
  it('increments x-delivery-count on each redelivery', () => {
    const once = markRedelivered(JSON.stringify({ headers: {}, properties: { delivery_info: {} } }));
    const twice = JSON.parse(markRedelivered(once));
    expect([JSON.parse(once).headers[DELIVERY_COUNT_HEADER], twice.headers[DELIVERY_COUNT_HEADER], twice.headers.redelivered]).toEqual([1, 2, true]);
  });
});
