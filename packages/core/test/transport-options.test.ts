import { describe, expect, it } from 'vitest';
import { coerceQueryValue, normalizeTransportOptions, toCamelCase } from '../src/transport-options.js';

describe('toCamelCase', () => {
  it.each([
    ['visibility_timeout', 'visibilityTimeout'],
    ['unacked_restore_limit', 'unackedRestoreLimit'],
    ['visibilityTimeout', 'visibilityTimeout'],
    ['sep', 'sep'],
  ])('turns %s into %s', (input, expected) => {
    expect(toCamelCase(input)).toBe(expected);
  });
});

describe('normalizeTransportOptions', () => {
  it('accepts snake_case and camelCase keys together', () => {
    expect(normalizeTransportOptions({ visibility_timeout: 5, fanoutPatterns: false })).toEqual({
      visibilityTimeout: 5,
      fanoutPatterns: false,
    });
  });

  it('prefers the camelCase spelling when both are given', () => {
    expect(normalizeTransportOptions({ visibilityTimeout: 1, visibility_timeout: 2 })).toEqual({ visibilityTimeout: 1 });
  });

  it('returns an empty object for undefined', () => {
    expect(normalizeTransportOptions(undefined)).toEqual({});
  });
});

describe('coerceQueryValue', () => {
  it.each([
    ['visibilityTimeout', '30', 30],
    ['ackEmulation', 'yes', true],
    ['ackEmulation', '0', false],
    ['fanoutPrefix', '/{db}.', '/{db}.'],
    ['globalKeyprefix', '42', '42'],
    ['prioritySteps', '0, 3,6', [0, 3, 6]],
    ['someFlag', 'false', false],
    ['masterName', 'mymaster', 'mymaster'],
  ] as const)('coerces %s=%s', (key, value, expected) => {
    expect(coerceQueryValue(key, value, 'redis://')).toEqual(expected);
  });
});
