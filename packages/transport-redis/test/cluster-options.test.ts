import { ConfigurationError, Connection, parseUrl, type ConnectionParams } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { masterOfSlot } from '../src/cluster-connector.js';
import { crc16, keySlot, prefixHashTag } from '../src/cluster-slot.js';
import { isRedisConnectionError } from '../src/errors.js';
import { parseRedisTransportOptions, toIoredisOptions } from '../src/options.js';
import { createRedisTransport, ShardedRedisTransport } from '../src/index.js';
import { TransportRegistry } from '@kelp/core';

const cluster = (url: string, options: Record<string, unknown> = {}): ConnectionParams => parseUrl(url, { transportOptions: options });
const build = (url: string, options: Record<string, unknown> = {}) => {
  const params = cluster(url, options);
  return toIoredisOptions(params, parseRedisTransportOptions(params.transportOptions));
};

describe('cluster slots', () => {
  it('hash keys with CRC16-XMODEM as Redis Cluster does', () => {
    // The check value of CRC16-XMODEM, and slots redis-cli's CLUSTER KEYSLOT gives.
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect([keySlot('foo'), keySlot('{kelp}:celery'), keySlot('{kelp}:unacked'), keySlot('kelp')]).toEqual([12182, 1926, 1926, 1926]);
  });

  it('take the hash tag from the prefix only when the prefix closes it', () => {
    expect(['{kelp}:', 'a{b}c', '{kelp', '{}kelp', 'kelp:', '', '{}{x}'].map(prefixHashTag)).toEqual(['kelp', 'b', undefined, undefined, undefined, undefined, undefined]);
  });

  it('find the master of a slot in a CLUSTER SLOTS reply', () => {
    const reply = [
      [0, 5460, ['127.0.0.1', 7000, 'a'], ['127.0.0.1', 7003, 'd'], ['?', 7005, 'f']],
      [5461, 16383, ['127.0.0.1', 7001, 'b']],
    ];
    const { master, nodes } = masterOfSlot(reply, 15606);
    expect(master).toEqual({ host: '127.0.0.1', port: 7001 });
    expect(nodes.map((node) => node.port)).toEqual([7000, 7003, 7001]);
  });
});

describe('cluster URLs', () => {
  it('parse every scheme to the rediscluster transport, TLS on for rediss+cluster', () => {
    const seen = ['rediscluster://u:p@h1:7000', 'redis+cluster://h1:7000', 'rediss+cluster://h1:7000'].map((url) => {
      const p = parseUrl(url);
      return [p.transport, p.hostname, p.port, p.tls !== undefined];
    });
    expect(seen).toEqual([
      ['rediscluster', 'h1', 7000, false],
      ['rediscluster', 'h1', 7000, false],
      ['rediscluster', 'h1', 7000, true],
    ]);
    expect(parseUrl('rediscluster://h1:7000?ssl_cert_reqs=none').tls).toEqual({ rejectUnauthorized: false });
  });

  it('connect through a slot connector with the URL user and password, TLS and db 0', () => {
    const o = build('rediss+cluster://alice:pw@h1:7000;rediss+cluster://h2:7001', { globalKeyprefix: '{kelp}:' });
    expect([o.username, o.password, o.db, typeof o.Connector, o.tls?.rejectUnauthorized]).toEqual(['alice', 'pw', 0, 'function', true]);
  });

  it('drop the connection on MOVED, READONLY and CLUSTERDOWN, and only reject ASK and TRYAGAIN', () => {
    const reconnect = build('rediscluster://h1:7000', { globalKeyprefix: '{kelp}:' }).reconnectOnError as (error: Error) => boolean;
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    const codes = ['MOVED 1 h:1', 'READONLY x', 'CLUSTERDOWN x', 'ERR Script attempted to access a non local key in a cluster node script: abc, on @user_script:101.', 'ASK 1 h:1', 'TRYAGAIN x', 'WRONGTYPE x', 'ERR unknown command'];
    expect(codes.map((code) => reconnect(reply(code)))).toEqual([true, true, true, true, false, false, false, false]);
    expect(codes.map((code) => isRedisConnectionError(reply(code)))).toEqual([true, true, true, true, true, true, false, false]);
  });

  it('are refused without a hash tag in the prefix, naming both ways', () => {
    const attempt = () => build('rediscluster://:secret@h1:7000', { globalKeyprefix: 'kelp:' });
    expect(attempt).toThrow(ConfigurationError);
    expect(attempt).toThrow(/globalKeyprefix: '\{kelp\}:'.*global_keyprefix.*clusterLayout: 'sharded'.*cluster_layout=sharded/);
    expect(attempt).not.toThrow(/secret/);
  });

  it('take the sharded layout: no slot connector (the transport dials each master), a prefix without a brace', () => {
    const options = build('rediscluster://:pw@h1:7000;rediscluster://h2:7001', { globalKeyprefix: 'kelp:', cluster_layout: 'sharded' });
    expect(options.Connector).toBeUndefined();
    expect([options.host, options.port, options.password]).toEqual(['h1', 7000, 'pw']);
    const registry = new TransportRegistry();
    registry.register(createRedisTransport());
    const sharded = new Connection('rediscluster://h1:7000', { registry, transportOptions: { clusterLayout: 'sharded' } });
    expect(sharded.transport).toBeInstanceOf(ShardedRedisTransport);
    const braced = new Connection('rediscluster://h1:7000', { registry, transportOptions: { clusterLayout: 'sharded', globalKeyprefix: '{kelp}:' } });
    expect(() => braced.transport).toThrow(/holds a brace/);
  });

  it('sweep for expired unacked records in the sharded layout every unackedRestoreInterval x unackedRestoreThrottle, as redis:// does', () => {
    const registry = new TransportRegistry();
    registry.register(createRedisTransport());
    const period = (transportOptions: Record<string, unknown>) =>
      (new Connection('rediscluster://h1:7000', { registry, transportOptions: { clusterLayout: 'sharded', ...transportOptions } }).transport as ShardedRedisTransport).options
        .unackedRestoreInterval;
    expect(period({})).toBe(100);
    expect(period({ unackedRestoreInterval: 2, unackedRestoreThrottle: 3 })).toBe(6);
    expect(period({ unackedRestoreThrottle: 0 })).toBe(10);
  });

  it('refuse a db other than 0, an unknown layout, and a mixed list', () => {
    expect(() => build('rediscluster://h1:7000/3', { globalKeyprefix: '{kelp}:' })).toThrow(/database 0 only/);
    expect(() => build('rediscluster://h1:7000', { globalKeyprefix: '{kelp}:', clusterLayout: 'spread' })).toThrow(/clusterLayout.*single_slot, sharded/);
    expect(() => build('rediscluster://h1:7000;redis://h2', { globalKeyprefix: '{kelp}:' })).toThrow(/every URL of a cluster list/);
  });

  it('refuse a list that mixes TLS and plaintext URLs, naming both without the password', () => {
    for (const [list, tls, plain] of [
      ['rediscluster://:s3cret@a:7000;rediss+cluster://:s3cret@b:7001', 'rediss+cluster://:**@b:7001', 'rediscluster://:**@a:7000'],
      ['rediss+cluster://:s3cret@a:7000;redis+cluster://:s3cret@b:7001', 'rediss+cluster://:**@a:7000', 'redis+cluster://:**@b:7001'],
      ['rediscluster://:s3cret@a:7000;rediscluster://:s3cret@b:7001?ssl_cert_reqs=required', 'rediscluster://:**@b:7001?ssl_cert_reqs=required', 'rediscluster://:**@a:7000'],
    ] as const) {
      const attempt = () => build(list, { globalKeyprefix: '{kelp}:' });
      expect(attempt).toThrow(ConfigurationError);
      expect(attempt).toThrow(`${tls} uses TLS, ${plain} does not`);
      expect(attempt).not.toThrow(/s3cret/);
    }
    // The Connection's tls option applies to every seed: plaintext URLs with it are not mixed.
    const params = parseUrl('rediscluster://a:7000;rediscluster://b:7001', { tls: true, transportOptions: { globalKeyprefix: '{kelp}:' } });
    expect(toIoredisOptions(params, parseRedisTransportOptions(params.transportOptions)).tls?.rejectUnauthorized).toBe(true);
  });

  it('suggest the right name for a misspelt cluster_layout', () => {
    const registry = new TransportRegistry();
    registry.register(createRedisTransport());
    expect(() => new Connection('rediscluster://h1:7000', { registry, transportOptions: { clusterLayot: 'sharded' } })).toThrow(/did you mean clusterLayout\?/);
  });

  it('are one group of seeds, never a failover list, and print no password', () => {
    const registry = new TransportRegistry();
    registry.register(createRedisTransport());
    const connection = new Connection(['rediscluster://:secret@h1:7000', 'rediscluster://:secret2@h2:7001'], {
      registry,
      transportOptions: { global_keyprefix: '{kelp}:' },
    });
    expect([connection.redactedUrl, String(connection)]).toEqual([
      'rediscluster://:**@h1:7000;rediscluster://:**@h2:7001',
      '<Connection: rediscluster://:**@h1:7000;rediscluster://:**@h2:7001 (idle)>',
    ]);
    expect((connection.transport as unknown as { redactedUrl: string }).redactedUrl).toBe('rediscluster://:**@h1:7000;rediscluster://:**@h2:7001');
  });
});
