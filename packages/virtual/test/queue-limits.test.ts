import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '@kelp/core';
import { queueLengthLimits } from '../src/queue-limits.js';

describe('queueLengthLimits', () => {
  it('reads the limits with drop-head as the default overflow', () => {
    expect(queueLengthLimits({ 'x-max-length': 3 })).toEqual({ maxLength: 3, maxLengthBytes: undefined, overflow: 'drop-head', deadLetter: false });
    expect(queueLengthLimits({ 'x-max-length-bytes': 1024, 'x-overflow': 'reject-publish', 'x-dead-letter': true })).toEqual({
      maxLength: undefined,
      maxLengthBytes: 1024,
      overflow: 'reject-publish',
      deadLetter: true,
    });
  });

  it('returns undefined without a limit', () => {
    expect(queueLengthLimits({ 'x-message-ttl': 5 })).toBeUndefined();
    expect(queueLengthLimits(undefined)).toBeUndefined();
  });

  it.each([
    [{ 'x-max-length': -1 }, 'x-max-length'],
    [{ 'x-max-length-bytes': '1kb' }, 'x-max-length-bytes'],
    [{ 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx' }, 'x-overflow'],
  ])('refuses %j with a ConfigurationError naming %s', (args, option) => {
    expect(() => queueLengthLimits(args)).toThrow(ConfigurationError);
    try {
      queueLengthLimits(args);
    } catch (error) {
      expect((error as ConfigurationError).option).toBe(option);
    }
  });
});
