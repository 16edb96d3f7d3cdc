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

  it('asks the sentinels of every sentinel:// URL for the master named masterName', () => {
    const o = toIoredisOptions(
      params({ transport: 'sentinel', hostname: 's1', port: 26380, password: 'master-pw', alternates: ['sentinel://s2', 'sentinel://:x@s3:26390/5'] }),
      parseRedisTransportOptions({ masterName: 'mymaster' }),
    );
    expect([o.sentinels, o.name, o.role, o.failoverDetector, o.password, o.sentinelPassword, o.db]).toEqual([
      [{ host: 's1', port: 26380 }, { host: 's2', port: 26379 }, { host: 's3', port: 26390 }],
      'mymaster',
      'master',
      false,
      'master-pw',
      undefined,
      2,
    ]);
  });

  it('refuses sentinel:// without masterName, naming the option', () => {
    const build = () => toIoredisOptions(params({ transport: 'sentinel' }), parseRedisTransportOptions({}));
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(/masterName.*master_name/);
  });

  it('takes the sentinels\' own credentials and TLS from sentinelKwargs', () => {
    const o = toIoredisOptions(
      params({ transport: 'sentinel', tls: { rejectUnauthorized: false } }),
      parseRedisTransportOptions({ masterName: 'm', sentinelKwargs: { password: 'sp', username: 'su', ssl: true, ssl_cert_reqs: 'none' } }),
    );
    expect([o.sentinelPassword, o.sentinelUsername, o.sentinelTLS, o.tls, o.enableTLSForSentinelMode]).toEqual([
      'sp',
      'su',
      { rejectUnauthorized: false },
      { rejectUnauthorized: false },
      true,
    ]);
  });

  it('checks each sentinel\'s view of its peers only when minOtherSentinels is set', () => {
    const build = (min: number) => toIoredisOptions(params({ transport: 'sentinel' }), parseRedisTransportOptions({ masterName: 'm', minOtherSentinels: min }));
    expect([build(0).Connector, typeof build(1).Connector]).toEqual([undefined, 'function']);
  });

  it('refuses an unknown sentinelKwargs key with a did-you-mean', () => {
    const build = () => toIoredisOptions(params({ transport: 'sentinel' }), parseRedisTransportOptions({ masterName: 'm', sentinelKwargs: { pasword: 'x' } }));
    expect(build).toThrow(/`pasword`.*did you mean `password`/);
  });

  it('reconnects on READONLY without resending the command', () => {
    const o = toIoredisOptions(params({ transport: 'sentinel' }), parseRedisTransportOptions({ masterName: 'm' }));
    const reconnect = o.reconnectOnError as (error: Error) => boolean | 1 | 2;
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    expect([reconnect(reply("READONLY You can't write against a read only replica.")), reconnect(reply('WRONGTYPE x'))]).toEqual([true, false]);
  });

  it('parses db paths like Kombu and rejects non-integers', () => {
    expect(['', '/', '//', '3', '/3'].map(parseDb)).toEqual([0, 0, 0, 3, 3]);
    expect(() => parseDb('/foo')).toThrow(ConfigurationError);
  });
});
