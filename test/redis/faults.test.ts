import { ChannelError, OperationalError, parseUrl, type Delivery } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport, type RedisChannel } from '@kelp/transport-redis';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { message, spinUntil } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup(server: RedisServerHandle, path = '/0', options: Record<string, unknown> = {}) {
  const transport = new RedisTransport(parseUrl(`${server.url.replace('redis://', 'redis://:s3cret@')}${path}`, { transportOptions: { brpopTimeout: 0.2, ...options } }));
  await transport.connect();
  const hub = new Hub();
  transport.registerWithEventLoop(hub);
  const channel = (await transport.createChannel()) as RedisChannel;
  cleanups.push(async () => {
    await transport.close();
    hub.close();
  });
  return { transport, hub, channel };
}

describe('errors carry the redacted URL and the right class', () => {
  it('wraps WRONGTYPE into a ChannelError naming the broker without its password', async () => {
    const server = await startRedisServer({ extraArgs: ['--requirepass', 's3cret'] });
    cleanups.push(() => server.stop());
    const { channel } = await setup(server);
    const raw = new Redis({ port: server.port, password: 's3cret' });
    await raw.set('notalist', 'x');
    raw.disconnect();
    const error = await channel.basicPublish(message({ a: 1 }), '', 'notalist').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelError);
    expect((error as Error).message).toContain(`127.0.0.1:${server.port}`);
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('fails connect with an OperationalError on a wrong password, without echoing it', async () => {
    const server = await startRedisServer({ extraArgs: ['--requirepass', 'right'] });
    cleanups.push(() => server.stop());
    const transport = new RedisTransport(parseUrl(`redis://:wrongpw@127.0.0.1:${server.port}/0`));
    const error = await transport.connect().catch((e: unknown) => e);
    await transport.close();
    expect(error).toBeInstanceOf(OperationalError);
    expect((error as Error).message).not.toContain('wrongpw');
    expect(transport.isConnectionError(error)).toBe(true);
  });
});

describe('broker restart', () => {
  it('keeps consuming after the server is killed and restarted on the same port', async () => {
    const server = await startRedisServer({ extraArgs: ['--requirepass', 's3cret'] });
    let current = server;
    cleanups.push(() => current.stop());
    const { transport, hub, channel } = await setup(server);
    const lost: string[] = [];
    transport.on('connectionLost', (e) => lost.push(e.message));
    transport.on('error', () => undefined);
    const got: Delivery[] = [];
    await channel.basicConsume('survive', { noAck: true, onDelivery: (d) => got.push(d) });
    await spinUntil(hub, () => false, 300);
    await server.kill('SIGKILL');
    await spinUntil(hub, () => false, 500);
    current = await startRedisServer({ port: server.port, extraArgs: ['--requirepass', 's3cret'] });
    const raw = new Redis({ port: server.port, password: 's3cret' });
    await raw.lpush('survive', JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: 'after-restart', delivery_info: { exchange: '', routing_key: 'survive' }, body_encoding: 'base64' } }));
    raw.disconnect();
    await spinUntil(hub, () => got.length > 0, 10_000);
    expect(got.map((d) => d.deliveryTag)).toEqual(['after-restart']);
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(lost.join(' ')).not.toContain('s3cret');
  });
});

describe('closing while the broker is down', () => {
  it('finishes within seconds and reports that unacked messages could not be restored', async () => {
    const server = await startRedisServer({ extraArgs: ['--requirepass', 's3cret'] });
    const { transport, hub, channel } = await setup(server);
    const errors: string[] = [];
    transport.on('error', (e) => errors.push(e.message));
    await channel.basicPublish(message({ stuck: 1 }), '', 'downq');
    const got: Delivery[] = [];
    await channel.basicConsume('downq', { onDelivery: (d) => got.push(d) });
    await spinUntil(hub, () => got.length > 0);
    await server.kill('SIGKILL');
    const started = Date.now();
    await transport.close();
    cleanups.push(() => server.stop());
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(errors.some((m) => /restore/i.test(m))).toBe(true);
  });
});

describe('connection kills', () => {
  it('re-subscribes fanout and re-arms the wake-up after its poll and subscriber connections are killed', async () => {
    const server = await startRedisServer({ extraArgs: ['--requirepass', 's3cret'] });
    cleanups.push(() => server.stop());
    const { transport, hub, channel } = await setup(server, '/0', { brpopTimeout: 30 });
    transport.on('error', () => undefined);
    await channel.exchangeDeclare('kfx', { type: 'fanout' });
    await channel.queueBind('kfq', 'kfx', '');
    const got: Delivery[] = [];
    await channel.basicConsume('kfq', { noAck: true, onDelivery: (d) => got.push(d) });
    await channel.basicConsume('klq', { noAck: true, onDelivery: (d) => got.push(d) });
    await spinUntil(hub, () => transport.wakeMode(channel) === 'on', 3000);
    const admin = new Redis({ port: server.port, password: 's3cret' });
    const clients = String(await admin.call('CLIENT', 'LIST'));
    const ids = clients.split('\n').filter((l) => /name=kelp-(poll|subscriber)/.test(l)).map((l) => /id=(\d+)/.exec(l)?.[1]);
    for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id as string);
    let patterns = 0;
    await spinUntil(hub, () => {
      void admin.call('PUBSUB', 'NUMPAT').then((n) => (patterns = Number(n)));
      return patterns > 0;
    }, 5000);
    await spinUntil(hub, () => false, 500);
    await admin.lpush('klq', JSON.stringify({ body: 'e30=', headers: {}, properties: { delivery_tag: 'k-1', delivery_info: { exchange: '', routing_key: 'klq' }, body_encoding: 'base64' } }));
    await channel.basicPublish(message({ f: 1 }), 'kfx', '');
    await spinUntil(hub, () => got.length >= 2, 5000);
    admin.disconnect();
    expect([ids.length, got.map((d) => d.deliveryInfo.queue).sort()]).toEqual([2, ['kfq', 'klq']]);
  });
});
