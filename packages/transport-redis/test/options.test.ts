import { ConfigurationError, type ConnectionParams } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { parseDb, parseRedisTransportOptions, toIoredisOptions } from '../src/options.js';

const params = (over: Partial<ConnectionParams> = {}): ConnectionParams => ({
  transport: 'redis',
  hostname: 'h',
  port: 6380,
  username: undefined,
  password: undefined,
  virtualHost: '/2',
  socketPath: undefined,
  tls: undefined,
  transportOptions: {},
  alternates: [],
  redactedUrl: 'redis://h:6380/2',
  ...over,
});

describe('parseRedisTransportOptions', () => {
  it('fills Kombu 5.2.4 defaults', () => {
    const o = parseRedisTransportOptions({});
    expect([o.visibilityTimeout, o.prioritySteps, o.sep, o.unackedMutexExpire, o.healthCheckInterval, o.brpopTimeout, o.restoreTarget, o.ackEmulation]).toEqual([
      3600, [0, 3, 6, 9], '\x06\x16', 300, 25, 1, 'bare', true,
    ]);
  });

  it('coerces URL query strings into numbers, booleans and step lists', () => {
    const o = parseRedisTransportOptions({ visibilityTimeout: '30', fanoutPatterns: 'false', prioritySteps: '0,1,2,3,4,5,6,7,8,9' });
    expect([o.visibilityTimeout, o.fanoutPatterns, o.prioritySteps.length]).toEqual([30, false, 10]);
  });

  it('lets pollingInterval override the blocking timeout', () => {
    expect(parseRedisTransportOptions({ pollingInterval: 2 }).brpopTimeout).toBe(2);
  });

  it('names the option and the accepted values in its error', () => {
    try {
      parseRedisTransportOptions({ queueOrderStrategy: 'fifo' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).option).toBe('transportOptions.queueOrderStrategy');
      expect((error as Error).message).toContain('round_robin');
    }
  });
});

describe('toIoredisOptions', () => {
  it('maps host, port, db and credentials', () => {
    const o = toIoredisOptions(params({ username: 'u', password: 'p@ss' }), parseRedisTransportOptions({}));
    expect([o.host, o.port, o.db, o.username, o.password]).toEqual(['h', 6380, 2, 'u', 'p@ss']);
  });

  it('uses a unix socket path for redis+socket', () => {
    const o = toIoredisOptions(params({ transport: 'redis+socket', socketPath: '/tmp/r.sock', virtualHost: '4' }), parseRedisTransportOptions({}));
    expect([o.path, o.db, o.host]).toEqual(['/tmp/r.sock', 4, undefined]);
  });

  it('turns on certificate-verifying TLS for rediss', () => {
    const o = toIoredisOptions(params({ transport: 'rediss' }), parseRedisTransportOptions({}));
    expect(o.tls).toEqual({ rejectUnauthorized: true });
  });

  it('refuses sentinel URLs for now', () => {
    expect(() => toIoredisOptions(params({ transport: 'sentinel' }), parseRedisTransportOptions({}))).toThrow('sentinel:// is not supported yet');
  });

  it('parses db paths like Kombu and rejects non-integers', () => {
    expect(['', '/', '//', '3', '/3'].map(parseDb)).toEqual([0, 0, 0, 3, 3]);
    expect(() => parseDb('/foo')).toThrow(ConfigurationError);
  });
});
