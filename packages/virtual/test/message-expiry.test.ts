import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '@kelp/core';
import { envelopeDeadline, expirationMs, payloadDeadline, queueMessageTtl, stampedDeadline, withDeadline } from '../src/message-expiry.js';

const ENV = '{"body":"e30=","headers":{},"properties":{"delivery_tag":"t"}}';

describe('withDeadline', () => {
  it('puts the deadline first and leaves the rest byte for byte', () => {
    expect(withDeadline(ENV, 1795287493240)).toBe(`{"x-kelp-expires-at":1795287493240,${ENV.slice(1)}`);
  });

  it('keeps an earlier deadline and replaces a later one', () => {
    const stamped = withDeadline(ENV, 2000);
    expect(withDeadline(stamped, 3000)).toBe(stamped);
    expect(withDeadline(stamped, 1000)).toBe(withDeadline(ENV, 1000));
  });

  it('truncates a fractional deadline to whole milliseconds', () => {
    expect(stampedDeadline(withDeadline(ENV, 1234.9))).toBe(1234);
  });

  it('leaves text that is not a JSON object with members unchanged', () => {
    expect(withDeadline('not json', 1)).toBe('not json');
    expect(withDeadline('{ }', 1)).toBe('{ }');
  });

  it('accepts Python spacing after the opening brace', () => {
    expect(withDeadline('{"body": "x"}', 5)).toBe('{"x-kelp-expires-at":5,"body": "x"}');
  });
});

describe('deadlines of stored envelopes', () => {
  it('reads no deadline from an envelope without the member', () => {
    expect(stampedDeadline(ENV)).toBeUndefined();
    expect(payloadDeadline(ENV)).toBeUndefined();
  });

  it('takes timestamp (seconds) + expiration (ms) from Kombu properties', () => {
    const kombu = '{"body": "x", "properties": {"timestamp": 100.5, "expiration": "2000", "delivery_tag": "t"}}';
    expect(payloadDeadline(kombu)).toBe(102_500);
  });

  it('never expires an expiration without a timestamp', () => {
    expect(envelopeDeadline(ENV, { expiration: '2000' })).toBeUndefined();
  });

  it('prefers the stamp over the properties', () => {
    expect(envelopeDeadline(withDeadline(ENV, 7), { timestamp: 100, expiration: '2000' })).toBe(7);
  });
});

describe('expirationMs', () => {
  it.each([
    ['30000', 30000],
    [1500, 1500],
    ['', undefined],
    [' 10', undefined],
    ['1e3', undefined],
    [-1, undefined],
    [null, undefined],
  ])('reads %j as %j', (value, expected) => {
    expect(expirationMs(value)).toBe(expected);
  });
});

describe('queueMessageTtl', () => {
  it('returns the x-message-ttl argument in milliseconds, undefined without one', () => {
    expect(queueMessageTtl({ 'x-message-ttl': 1000 })).toBe(1000);
    expect(queueMessageTtl({ 'x-dead-letter': true })).toBeUndefined();
    expect(queueMessageTtl(undefined)).toBeUndefined();
  });

  it.each([['1s'], [1.5], [-1]])('refuses %j with a ConfigurationError naming x-message-ttl', (value) => {
    expect(() => queueMessageTtl({ 'x-message-ttl': value })).toThrow(ConfigurationError);
  });
});
