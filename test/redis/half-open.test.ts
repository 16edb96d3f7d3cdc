/**
 * Half-open links (no FIN, no RST: bytes just stop) through a small loopback proxy. Only a
 * timeout can tell, and the socket never recovers (bytes were lost mid-stream), so the transport
 * must replace every connection that misses a reply, report it, and consume again afterwards.
 */
import { parseUrl, type Delivery } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport, type RedisChannel } from '@kelp/transport-redis';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { freshDb } from '../setup/fresh-db.js';
import { spinUntil } from './helpers.js';

/** Forwards to redis; `pause()` swallows every byte of the connections open at that moment, for good. */
class SilentProxy {
  private readonly pairs = new Set<{ swallow: boolean; sockets: Socket[] }>();
  private constructor(readonly server: Server) {}

  static async start(target: number): Promise<SilentProxy> {
    const server = createServer();
    const proxy = new SilentProxy(server);
    server.on('connection', (client) => {
      const upstream = createConnection({ port: target, host: '127.0.0.1' });
      const pair = { swallow: false, sockets: [client, upstream] };
      proxy.pairs.add(pair);
      client.on('data', (chunk) => pair.swallow || upstream.write(chunk));
      upstream.on('data', (chunk) => pair.swallow || client.write(chunk));
      for (const socket of pair.sockets) socket.on('error', () => undefined);
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  pause(): void {
    for (const pair of this.pairs) pair.swallow = true;
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) for (const socket of pair.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function envelope(id: string, queue: string): string {
  const body = Buffer.from(JSON.stringify({ id })).toString('base64');
  return JSON.stringify({
    body,
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {},
    properties: {
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: queue },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: `tag-${id}`,
    },
  });
}

describe('half-open links', () => {
  it('replaces silent poll and subscriber connections, reports lost then reconnected, and consumes again', { timeout: 20_000 }, async () => {
    const db = await freshDb();
    const server = new URL(db.url);
    const proxy = await SilentProxy.start(Number(server.port));
    const admin = new Redis(db.url);
    const url = `redis://127.0.0.1:${proxy.port}/${db.db}`;
    const transport = new RedisTransport(parseUrl(url, { transportOptions: { socketTimeout: 0.5, healthCheckInterval: 0.3, brpopTimeout: 0.2 } }));
    const hub = new Hub();
    cleanups.push(async () => {
      await Promise.race([transport.close(), new Promise((r) => setTimeout(r, 3000))]);
      hub.close();
      await proxy.close();
      await admin.quit();
    });
    await transport.connect();
    transport.registerWithEventLoop(hub);
    const events: string[] = [];
    transport.on('connectionLost', () => events.push('lost'));
    transport.on('reconnected', () => events.push('reconnected'));
    transport.on('error', () => undefined);
    const channel = (await transport.createChannel()) as RedisChannel;
    const got: string[] = [];
    const acked: string[] = [];
    await channel.basicConsume('ho', {
      noAck: false,
      onDelivery: (d: Delivery) => {
        const id = (JSON.parse(new TextDecoder().decode(d.body)) as { id: string }).id;
        got.push(id);
        channel.basicAck(d.deliveryTag).then(() => acked.push(id), () => undefined);
      },
    });
    await admin.lpush('ho', envelope('before', 'ho'));
    expect(await spinUntil(hub, () => acked.length === 1, 5000)).toBe(true);

    proxy.pause();
    // New connections go through again: only the ones open now are dead, and stay dead. The
    // poll's timeout, then the command connection's missing PONG, each replace one of them.
    const lostAndBack = () => events.filter((e) => e === 'lost').length >= 1 && events.at(-1) === 'reconnected';
    expect(await spinUntil(hub, () => lostAndBack() && transport.client.status === 'ready' && events.length >= 2, 8000)).toBe(true);
    await spinUntil(hub, () => false, 1500);
    await admin.lpush('ho', envelope('after', 'ho'));
    expect(await spinUntil(hub, () => acked.length === 2, 5000)).toBe(true);

    expect(got).toEqual(['before', 'after']);
    expect(acked).toEqual(['before', 'after']);
    expect(events.slice(0, 2)).toEqual(['lost', 'reconnected']);
    expect(await admin.hlen('unacked')).toBe(0);
    expect(await admin.llen('ho')).toBe(0);
  });

  it('gives the command connection a 30 s command timeout unless socketTimeout says otherwise', async () => {
    const db = await freshDb();
    const plain = new RedisTransport(parseUrl(db.url));
    const bounded = new RedisTransport(parseUrl(db.url, { transportOptions: { socketTimeout: 2 } }));
    cleanups.push(() => plain.close(), () => bounded.close());
    await plain.connect();
    await bounded.connect();
    expect(plain.client.options.commandTimeout).toBe(30_000);
    expect(bounded.client.options.commandTimeout).toBe(2_000);
  });
});
