import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUrl, type Delivery } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport, type RedisChannel } from '@kelp/transport-redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { bodyOf, message, spinUntil } from './helpers.js';

let dir: string;
let server: RedisServerHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kelp-sock-'));
  server = await startRedisServer({ extraArgs: ['--unixsocket', join(dir, 'redis.sock'), '--unixsocketperm', '700'] });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('consumes over redis+socket:// on the db given by virtual_host', async () => {
  const transport = new RedisTransport(parseUrl(`redis+socket://${join(dir, 'redis.sock')}?virtual_host=4`));
  await transport.connect();
  const hub = new Hub();
  transport.registerWithEventLoop(hub);
  const channel = (await transport.createChannel()) as RedisChannel;
  await channel.basicPublish(message({ via: 'socket' }), '', 'sockq');
  const got: Delivery[] = [];
  await channel.basicConsume('sockq', { noAck: true, onDelivery: (d) => got.push(d) });
  await spinUntil(hub, () => got.length > 0);
  const db = await transport.client.call('CLIENT', 'INFO');
  await transport.close();
  hub.close();
  expect([got.map(bodyOf), /db=4/.test(String(db))]).toEqual([[{ via: 'socket' }], true]);
});
