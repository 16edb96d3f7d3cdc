/**
 * Moves a cluster transport's connections together when the hash-tag slot moves. A connection
 * that meets MOVED (a resharding, or a failover) reconnects and finds the slot's new master by
 * itself, but a connection that sends nothing that could be redirected never learns: the
 * subscriber (SUBSCRIBE works on any node, so fanout would go on) and an idle command
 * connection. Left on the old node, the subscriber can no longer receive the poll connection's
 * client-tracking invalidations (a redirect only works within one server), and every wake-up
 * would wait for the brpopTimeout timer. So when one connection comes back ready on a node other
 * than the one it was on, every other connection still on that old node is dropped and looks
 * the master up again.
 */
import type { Redis } from 'ioredis';
import type { WatchedClient } from './switch-master-watch.js';

/** `127.0.0.1` and `::ffff:127.0.0.1` name the same peer; undefined while not connected. */
function peerOf(client: WatchedClient): string | undefined {
  const stream = client.stream;
  if (stream?.remoteAddress === undefined || stream.remotePort === undefined) return undefined;
  return `${stream.remoteAddress.replace(/^::ffff:/, '')}:${stream.remotePort}`;
}

/** The connected clients, other than `moved`, still on the node `moved` left. */
export function clientsLeftBehind<C extends WatchedClient>(moved: C, previous: string, clients: Iterable<C>): C[] {
  return [...clients].filter((client) => client !== moved && (client.status === 'ready' || client.status === 'connect') && peerOf(client) === previous);
}

export class ClusterSlotWatch {
  /** The node each client was last ready on. */
  private readonly lastPeer = new WeakMap<Redis, string>();

  constructor(private readonly clients: () => Iterable<Redis>) {}

  /** Follows one connection of the transport (each one, as it is created). */
  watch(client: Redis): void {
    client.on('ready', () => {
      const peer = peerOf(client);
      if (peer === undefined) return;
      const previous = this.lastPeer.get(client);
      this.lastPeer.set(client, peer);
      if (previous === undefined || previous === peer) return;
      for (const other of clientsLeftBehind(client, previous, this.clients())) other.disconnect(true);
    });
  }
}
