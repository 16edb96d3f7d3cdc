import { describe, expect, it } from 'vitest';
import { clientsOffMaster, type WatchedClient } from '../src/switch-master-watch.js';

const client = (name: string, status: string, remoteAddress?: string, remotePort?: number) =>
  ({ name, status, stream: remoteAddress === undefined ? undefined : { remoteAddress, remotePort }, disconnect: () => undefined }) as unknown as WatchedClient & { name: string };

describe('clientsOffMaster', () => {
  const clients = [
    client('on-new', 'ready', '127.0.0.1', 7001),
    client('on-new-v6-mapped', 'ready', '::ffff:127.0.0.1', 7001),
    client('on-old', 'ready', '127.0.0.1', 7000),
    client('connecting-to-old', 'connect', '127.0.0.1', 7000),
    client('reconnecting', 'reconnecting', '127.0.0.1', 7000),
  ];

  it('moves only the connected clients not on the announced master', () => {
    const moved = clientsOffMaster('mymaster 127.0.0.1 7000 127.0.0.1 7001', 'mymaster', clients);
    expect(moved.map((c) => c.name)).toEqual(['on-old', 'connecting-to-old']);
  });

  it('ignores another master\'s switch and a malformed message', () => {
    expect([clientsOffMaster('other 127.0.0.1 7000 127.0.0.1 7001', 'mymaster', clients), clientsOffMaster('mymaster', 'mymaster', clients)]).toEqual([[], []]);
  });
});
