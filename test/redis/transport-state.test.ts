/**
 * The transport's state follows its links: a transport whose redis-server went away says
 * 'reconnecting' (and emits 'stateChange'), and 'connected' again once every link is back.
 * Runs on a private redis-server, since the test kills it.
 */
import { parseUrl, type Delivery, type TransportState } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport } from '@kelp/transport-redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultRedis } from '../faults/support/redis-process.js';
import { bodyOf, message, spinUntil } from './helpers.js';

let server: FaultRedis;
beforeAll(async () => {
  server = await FaultRedis.start();
});
afterAll(async () => {
  await server?.stop();
});

describe('transport state', () => {
  it('is reconnecting while redis-server is down and connected again once it is back', { timeout: 60_000 }, async () => {
    const transport = new RedisTransport(parseUrl(server.url(0), { transportOptions: { health_check_interval: 1, polling_interval: 0.2 } }));
    const changes: [TransportState, TransportState][] = [];
    const events: string[] = [];
    transport.on('stateChange', (state, previous) => changes.push([state, previous]));
    transport.on('connectionLost', () => events.push('connectionLost'));
    transport.on('reconnected', () => events.push('reconnected'));
    transport.on('error', () => undefined);
    await transport.connect();
    const hub = new Hub();
    transport.registerWithEventLoop(hub);
    try {
      const channel = await transport.createChannel();
      await channel.queueDeclare('state-q');
      const deliveries: Delivery[] = [];
      // A consumer gives the transport its poll and subscriber links as well as the command link.
      await channel.basicConsume('state-q', { noAck: true, onDelivery: (d) => deliveries.push(d) });
      await spinUntil(hub, () => false, 300);
      expect(transport.state).toBe('connected');

      await server.kill();
      expect(await spinUntil(hub, () => transport.state === 'reconnecting', 10_000)).toBe(true);
      expect(events).toEqual(['connectionLost']);

      await server.up();
      expect(await spinUntil(hub, () => transport.state === 'connected', 30_000)).toBe(true);
      expect(changes).toEqual([
        ['connecting', 'idle'],
        ['connected', 'connecting'],
        ['reconnecting', 'connected'],
        ['connected', 'reconnecting'],
      ]);
      expect(events).toEqual(['connectionLost', 'reconnected']);

      // Connected means usable: a message published now reaches the consumer.
      await channel.basicPublish(message({ n: 1 }), '', 'state-q');
      expect(await spinUntil(hub, () => deliveries.length === 1, 10_000)).toBe(true);
      expect(bodyOf(deliveries[0] as Delivery)).toEqual({ n: 1 });
    } finally {
      await transport.close();
      hub.close();
    }
    expect(transport.state).toBe('closed');
  });
});
