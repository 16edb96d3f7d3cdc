import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ClusterSlotWatch, clientsLeftBehind } from '../src/cluster-slot-watch.js';

/** A stand-in for an ioredis client: its status, its socket's peer, 'ready' and disconnect(). */
class FakeClient extends EventEmitter {
  status: Redis['status'] = 'ready';
  stream: { remoteAddress?: string; remotePort?: number } = {};
  reconnects = 0;
  constructor(host: string, port: number) {
    super();
    this.at(host, port);
  }
  at(host: string, port: number): void {
    this.stream = { remoteAddress: host, remotePort: port };
  }
  disconnect(reconnect: boolean): void {
    if (reconnect) this.reconnects++;
  }
}

const asRedis = (clients: FakeClient[]) => clients as unknown as Redis[];

describe('ClusterSlotWatch', () => {
  it('drops the other connections still on the node a connection moved away from, and only those', () => {
    const command = new FakeClient('127.0.0.1', 7000);
    const subscriber = new FakeClient('::ffff:127.0.0.1', 7000);
    const elsewhere = new FakeClient('127.0.0.1', 7002);
    const clients = [command, subscriber, elsewhere];
    const watch = new ClusterSlotWatch(() => asRedis(clients));
    for (const client of clients) {
      watch.watch(client as unknown as Redis);
      client.emit('ready');
    }
    expect(clients.map((c) => c.reconnects)).toEqual([0, 0, 0]);
    command.at('127.0.0.1', 7001);
    command.emit('ready');
    expect(clients.map((c) => c.reconnects)).toEqual([0, 1, 0]);
  });

  it('moves nothing when a connection comes back on the node it was on', () => {
    const poll = new FakeClient('127.0.0.1', 7000);
    const subscriber = new FakeClient('127.0.0.1', 7000);
    const watch = new ClusterSlotWatch(() => asRedis([poll, subscriber]));
    watch.watch(poll as unknown as Redis);
    poll.emit('ready');
    poll.emit('ready');
    expect(subscriber.reconnects).toBe(0);
  });

  it('leaves alone clients that are not connected', () => {
    const moved = new FakeClient('127.0.0.1', 7001);
    const closed = new FakeClient('127.0.0.1', 7000);
    closed.status = 'reconnecting';
    expect(clientsLeftBehind(moved, '127.0.0.1:7000', [moved, closed])).toEqual([]);
  });
});
