import type { Delivery } from '@kelp/core';
import { parseUrl } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport, type RedisChannel } from '@kelp/transport-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { bodyOf, collect, message, redisFixture, spinUntil, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

describe('ackEmulation off (Kombu plain QoS)', () => {
  it('writes nothing to unacked and still puts a requeued message back', async () => {
    const { channel, hub } = await fx.newTransport({ ackEmulation: false });
    const pub = await channel.basicPublish(message({ a: 1 }), '', 'noemu');
    const got: Delivery[] = [];
    await channel.basicConsume('noemu', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    expect(await fx.redis.exists('unacked', 'unacked_index')).toBe(0);
    await channel.basicReject(pub.deliveryTag, true);
    const back = JSON.parse((await fx.redis.lindex('noemu', 0)) as string);
    expect([back.properties.delivery_tag, back.headers.redelivered]).toEqual([pub.deliveryTag, true]);
  });

  it('restores a basicGet message on close from the in-process record', async () => {
    const { channel } = await fx.newTransport({ ackEmulation: false });
    await channel.basicPublish(message({ g: 1 }), '', 'noemu2');
    const got = await channel.basicGet('noemu2');
    expect(bodyOf(got as Delivery)).toEqual({ g: 1 });
    await channel.close();
    expect(await fx.redis.llen('noemu2')).toBe(1);
  });
});

describe('watchdog', () => {
  it('reports a stuck poll and resumes consuming once the server answers again', async () => {
    const { channel, hub, transport } = await fx.newTransport({ socketTimeout: 0.3, brpopTimeout: 0.2 });
    const errors: string[] = [];
    transport.on('error', (e) => errors.push(e.message));
    const got: Delivery[] = [];
    await channel.basicConsume('wd', { noAck: true, onDelivery: (d) => got.push(d) });
    await spinUntil(hub, () => false, 300);
    const admin = new Redis(fx.db.url);
    await admin.call('CLIENT', 'PAUSE', '800', 'ALL');
    await spinUntil(hub, () => errors.length > 0, 3000);
    await spinUntil(hub, () => false, 900);
    await admin.lpush('wd', JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: 'wd-1', delivery_info: { exchange: '', routing_key: 'wd' }, body_encoding: 'base64' } }));
    await spinUntil(hub, () => got.length > 0, 5000);
    admin.disconnect();
    expect(errors.some((m) => /did not answer|timed out/i.test(m))).toBe(true);
    expect(got.map((d) => d.deliveryTag)).toEqual(['wd-1']);
  });
});

describe('a server that forbids CLIENT (no tracking)', () => {
  let server: RedisServerHandle;
  beforeAll(async () => {
    server = await startRedisServer({ extraArgs: ['--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-client'] });
  });
  afterAll(() => server.stop());

  it('still consumes list queues on the poll timer and fanout over pub/sub', async () => {
    const transport = new RedisTransport(parseUrl(`${server.url}/0`, { transportOptions: { brpopTimeout: 0.2 } }));
    await transport.connect();
    const hub = new Hub();
    transport.registerWithEventLoop(hub);
    const channel = (await transport.createChannel()) as RedisChannel;
    await channel.exchangeDeclare('nf', { type: 'fanout' });
    await channel.queueBind('nfq', 'nf', '');
    const got: Delivery[] = [];
    await channel.basicConsume('plain', { noAck: true, onDelivery: (d) => got.push(d) });
    await channel.basicConsume('nfq', { noAck: true, onDelivery: (d) => got.push(d) });
    const raw = new Redis(`${server.url}/0`);
    let patterns = 0;
    await spinUntil(hub, () => {
      void raw.call('PUBSUB', 'NUMPAT').then((n) => (patterns = Number(n)));
      return patterns > 0;
    });
    await spinUntil(hub, () => false, 300);
    await raw.lpush('plain', JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: 'nt-1', delivery_info: { exchange: '', routing_key: 'plain' }, body_encoding: 'base64' } }));
    await channel.basicPublish(message({ f: 1 }), 'nf', '');
    await spinUntil(hub, () => got.length >= 2, 5000);
    const mode = transport.wakeMode(channel);
    raw.disconnect();
    await transport.close();
    hub.close();
    expect([mode, got.map((d) => d.deliveryInfo.queue).sort()]).toEqual(['unsupported', ['nfq', 'plain']]);
  });
});

describe('clientTracking: false', () => {
  let own: RedisFixture;
  beforeAll(async () => {
    // A db of its own: CLIENT LIST is read per db, and this file's other transports track.
    own = await redisFixture();
  });
  afterAll(() => own.close());

  it('leaves tracking off and finds a new message on the brpopTimeout timer', async () => {
    const { channel, hub, transport } = await own.newTransport({ clientTracking: false, brpopTimeout: 0.2 });
    const got: Delivery[] = [];
    // Two queues, so no one-queue blocking wait stands in for the wake-up.
    await channel.basicConsume('ct.a', { noAck: true, onDelivery: (d) => got.push(d) });
    await channel.basicConsume('ct.b', { noAck: true, onDelivery: (d) => got.push(d) });
    await spinUntil(hub, () => false, 300);
    const clients = String(await own.redis.call('CLIENT', 'LIST'))
      .split('\n')
      .filter((line) => line.includes(` db=${own.db.db} `));
    await own.redis.lpush('ct.b', JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: 'ct-1', delivery_info: { exchange: '', routing_key: 'ct.b' }, body_encoding: 'base64' } }));
    await spinUntil(hub, () => got.length > 0, 3000);
    expect(transport.wakeMode(channel)).toBe('unsupported');
    // The transport's connections are there, and none has tracking on (CLIENT LIST flag `t`).
    expect(clients.length).toBeGreaterThanOrEqual(3);
    expect(clients.filter((line) => / flags=\S*t/.test(line))).toEqual([]);
    expect(got.map((d) => d.deliveryTag)).toEqual(['ct-1']);
  });
});
