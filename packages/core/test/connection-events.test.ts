import { describe, expect, it } from 'vitest';
import { Connection } from '../src/connection.js';
import { FakeSocketError, fakeSetup, type FakeTransport } from './helpers/fake-transport.js';

describe('Connection deadLettered event', () => {
  it('forwards the transport deadLettered event with its queue and reason', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.connect();
    const seen: { queue: string; reason: string }[] = [];
    conn.on('deadLettered', (info) => seen.push(info));
    (broker.transports[0] as FakeTransport).emit('deadLettered', { queue: 'tasks', reason: 'not a valid envelope' });
    expect(seen).toEqual([{ queue: 'tasks', reason: 'not a valid envelope' }]);
    await conn.close();
  });

  it('forwards dead letters of the transport a reconnect built, and no longer those of the dropped one', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const queues: string[] = [];
    conn.on('deadLettered', (info) => queues.push(info.queue));
    let calls = 0;
    await conn.ensure(async () => {
      if (++calls === 1) throw new FakeSocketError('reset');
    });
    const [dropped, current] = broker.transports as FakeTransport[];
    dropped?.emit('deadLettered', { queue: 'old', reason: 'x' });
    current?.emit('deadLettered', { queue: 'new', reason: 'y' });
    expect(queues).toEqual(['new']);
    await conn.close();
  });
});
