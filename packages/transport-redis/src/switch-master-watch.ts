/**
 * The sentinels' `+switch-master` announcements for one sentinel:// transport: one subscriber
 * connection per sentinel, shared by every connection of the transport. On an announcement each
 * connection that is not on the announced master is dropped, so it reconnects through the
 * sentinels at once instead of going on talking to a demoted or unreachable node.
 *
 * Why not ioredis's `failoverDetector`: it drops every connection on any announcement, also the
 * ones that already reached the new master (a sentinel names the promoted replica before it
 * announces the switch, so a connection retrying after the master died is often there first).
 * Dropping those fails their commands in flight with an unknown outcome (an ack or a publish
 * that ran), for nothing; and it opens one subscriber per sentinel per connection.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { closeClient } from './connections.js';

export const SWITCH_MASTER_CHANNEL = '+switch-master';
const MAX_RESUBSCRIBE_DELAY_MS = 1000;

export interface SwitchMasterWatchOptions {
  /** The transport's ioredis options: sentinels, master name, the sentinels' credentials and TLS. */
  sentinel: Pick<RedisOptions, 'sentinels' | 'name' | 'sentinelPassword' | 'sentinelUsername' | 'sentinelTLS' | 'connectTimeout'>;
  /** Every connection of the transport that may need to move. */
  clients: () => Iterable<Redis>;
}

/** `127.0.0.1` and `::ffff:127.0.0.1` name the same peer. */
const address = (host: string | undefined, port: number | string | undefined): string => `${(host ?? '').replace(/^::ffff:/, '')}:${port ?? ''}`;

/** The part of a client a switch looks at. */
export type WatchedClient = Pick<Redis, 'status' | 'disconnect'> & { readonly stream?: { remoteAddress?: string; remotePort?: number } | undefined };

/**
 * The connected clients a `+switch-master` message (`<master name> <old ip> <old port> <new ip>
 * <new port>`) for `masterName` leaves on a node other than the new master; none for another
 * master's switch.
 */
export function clientsOffMaster<C extends WatchedClient>(message: string, masterName: string | undefined, clients: Iterable<C>): C[] {
  const [name, , , host, port] = message.split(' ');
  if (name !== masterName || host === undefined || port === undefined) return [];
  const master = address(host, port);
  return [...clients].filter(
    (client) => (client.status === 'ready' || client.status === 'connect') && address(client.stream?.remoteAddress, client.stream?.remotePort) !== master,
  );
}

export class SwitchMasterWatch {
  private readonly subscribers: Redis[] = [];

  constructor(private readonly options: SwitchMasterWatchOptions) {}

  /** Subscribes on every sentinel; a sentinel that is down now is subscribed when it comes back. */
  start(): void {
    if (this.subscribers.length > 0) return;
    const { sentinel } = this.options;
    for (const endpoint of sentinel.sentinels ?? []) {
      const subscriber = new Redis({
        host: endpoint.host ?? '127.0.0.1',
        port: endpoint.port ?? 26379,
        ...(sentinel.sentinelPassword ? { password: sentinel.sentinelPassword } : {}),
        ...(sentinel.sentinelUsername ? { username: sentinel.sentinelUsername } : {}),
        ...(sentinel.sentinelTLS ? { tls: sentinel.sentinelTLS } : {}),
        ...(sentinel.connectTimeout === undefined ? {} : { connectTimeout: sentinel.connectTimeout }),
        connectionName: 'kelp-sentinel-watch',
        enableReadyCheck: false,
        maxRetriesPerRequest: null,
        retryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_RESUBSCRIBE_DELAY_MS),
      });
      // A sentinel that is down is one of several; the others announce the switch too.
      subscriber.on('error', () => undefined);
      subscriber.on('message', (channel: string, message: string) => {
        if (channel === SWITCH_MASTER_CHANNEL) this.onSwitch(message);
      });
      subscriber.subscribe(SWITCH_MASTER_CHANNEL).catch(() => undefined);
      this.subscribers.push(subscriber);
    }
  }

  /** Each sentinel announces the same switch; hearing it again moves nothing more. */
  private onSwitch(message: string): void {
    for (const client of clientsOffMaster(message, this.options.sentinel.name, this.options.clients())) client.disconnect(true);
  }

  async close(): Promise<void> {
    const closing = this.subscribers.splice(0).map((subscriber) => closeClient(subscriber));
    await Promise.allSettled(closing);
  }
}
