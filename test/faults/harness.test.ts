/**
 * The fault harness itself, checked with plain ioredis before any scenario relies on it: the
 * proxy forwards, swallows (half-open) and resets; a restarted AOF server keeps its data; the TLS
 * server accepts only clients that trust the test CA.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../setup/redis-server.js';
import { FaultProxy } from './support/proxy.js';
import { FaultRedis } from './support/redis-process.js';
import { makeTestCertificates, tlsServerArgs, type TestCertificates } from './support/tls.js';
import { analyseDeliveries, type Incarnation } from './support/workers.js';

const quiet = (client: Redis): Redis => {
  client.on('error', () => undefined);
  return client;
};

describe('fault proxy', () => {
  let redis: FaultRedis;
  let proxy: FaultProxy;
  beforeAll(async () => {
    redis = await FaultRedis.start();
    proxy = await FaultProxy.start({ port: redis.port });
  });
  afterAll(async () => {
    await proxy.close();
    await redis.stop();
  });

  it('forwards commands and replies', async () => {
    const client = quiet(new Redis({ port: proxy.port, maxRetriesPerRequest: 0 }));
    expect(await client.set('k', 'v')).toBe('OK');
    expect(await client.get('k')).toBe('v');
    client.disconnect();
  });

  it('swallows bytes while paused without closing the socket, and forwards new sockets after resume', async () => {
    const client = quiet(new Redis({ port: proxy.port, maxRetriesPerRequest: 0, commandTimeout: 300, retryStrategy: () => null }));
    expect(await client.ping()).toBe('PONG');
    proxy.pause();
    await expect(client.ping()).rejects.toThrow(/timed out/i);
    expect(client.status).toBe('ready');
    proxy.resume();
    // The old socket lost bytes mid-stream: it stays swallowed for good.
    await expect(client.ping()).rejects.toThrow(/timed out/i);
    const fresh = quiet(new Redis({ port: proxy.port, maxRetriesPerRequest: 0 }));
    expect(await fresh.ping()).toBe('PONG');
    client.disconnect();
    fresh.disconnect();
  });

  it('resets every socket on dropAll', async () => {
    const client = quiet(new Redis({ port: proxy.port, maxRetriesPerRequest: 0, retryStrategy: () => null }));
    expect(await client.ping()).toBe('PONG');
    const closed = new Promise<string>((resolve) => client.once('end', () => resolve('end')));
    proxy.dropAll();
    expect(await closed).toBe('end');
    expect(proxy.openConnections).toBe(0);
  });
});

describe('redis restart with AOF', () => {
  it('keeps every acknowledged write across a SIGKILL and comes back on the same port', async () => {
    const redis = await FaultRedis.start({ aof: true });
    try {
      const admin = redis.admin();
      await admin.rpush('list', ...Array.from({ length: 500 }, (_, i) => String(i)));
      await redis.restart(200);
      const again = redis.admin();
      expect(await again.llen('list')).toBe(500);
      expect(redis.starts).toBe(2);
    } finally {
      await redis.stop();
    }
  });
});

describe('TLS redis-server', () => {
  let certs: TestCertificates;
  let redis: FaultRedis;
  let tlsPort: number;
  beforeAll(async () => {
    certs = makeTestCertificates();
    tlsPort = await freePort();
    redis = await FaultRedis.start({ extraArgs: tlsServerArgs(certs, tlsPort) });
  });
  afterAll(async () => {
    await redis.stop();
    certs.remove();
  });

  it('answers a client that trusts the test CA', async () => {
    const client = quiet(new Redis({ port: tlsPort, tls: { ca: certs.caPem }, maxRetriesPerRequest: 0 }));
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });

  it('is refused by a client that does not trust the test CA', async () => {
    const client = new Redis({ port: tlsPort, tls: {}, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    const firstError = new Promise<Error>((resolve) => client.once('error', resolve));
    await client.connect().catch(() => undefined);
    expect((await firstError as NodeJS.ErrnoException).code).toBe('SELF_SIGNED_CERT_IN_CHAIN');
    client.disconnect();
  });
});

describe('delivery accounting of the chaos test', () => {
  const incarnation = (killed: boolean, deliveries: Array<[string, number]>, acked: string[], inRedisAfterKill?: string[]): Incarnation => ({
    log: '',
    killed,
    deliveries: deliveries.map(([id, at]) => ({ id, at, redelivered: false, incarnation: -1 })),
    acked: new Set(acked),
    failedAcks: new Set(),
    events: [],
    inRedisAfterKill: inRedisAfterKill && new Set(inRedisAfterKill),
  });
  const build = (list: Incarnation[]) => list.map((inc, i) => ({ ...inc, deliveries: inc.deliveries.map((d) => ({ ...d, incarnation: i })) }));

  it('explains a duplicate of a message its killed consumer held unacked, and flags the others', () => {
    const analysis = analyseDeliveries(
      ['held', 'after-ack', 'while-held', 'never'],
      build([
        incarnation(true, [['held', 1]], []),
        incarnation(false, [['held', 2], ['after-ack', 3], ['while-held', 4]], ['held', 'after-ack']),
        incarnation(false, [['after-ack', 5], ['while-held', 6]], ['after-ack', 'while-held']),
      ]),
      new Set(),
    );
    expect(analysis.afterKill).toBe(1);
    expect(analysis.afterAck).toEqual(['after-ack']);
    expect(analysis.unexplained).toEqual(['while-held']);
    expect(analysis.neverDelivered).toEqual(['never']);
    expect(analysis.redeliveries).toBe(3);
  });

  it('flags a message delivered to a SIGKILLed worker and dropped instead of restored', () => {
    // The killed worker delivered four ids and confirmed the ack of one. Right after the kill,
    // 'restored' and 'dropped' were still unacked in Redis and 'landed' was gone (its ack reached
    // Redis before the log line). 'restored' came back and was acked; 'dropped' never did.
    const analysis = analyseDeliveries(
      ['acked', 'restored', 'dropped', 'landed', 'waiting'],
      build([
        incarnation(true, [['acked', 1], ['restored', 2], ['dropped', 3], ['landed', 4]], ['acked'], ['restored', 'dropped', 'waiting']),
        incarnation(false, [['restored', 5]], ['restored']),
      ]),
      new Set(['waiting']),
    );
    expect(analysis.lost).toEqual(['dropped']);
    expect(analysis.kills).toEqual([{ incarnation: 0, held: 2, ackMayHaveLanded: ['landed'] }]);
    expect(analysis.ackedLogged).toBe(2);
    // Counting deliveries instead of acks would have called every id but 'waiting' safe.
    expect(analysis.neverDelivered).toEqual(['waiting']);
  });

  it('allows no ack-may-have-landed for a kill whose Redis state was not read', () => {
    const analysis = analyseDeliveries(['held'], build([incarnation(true, [['held', 1]], [])]), new Set());
    expect([analysis.kills, analysis.lost]).toEqual([[], ['held']]);
  });
});
