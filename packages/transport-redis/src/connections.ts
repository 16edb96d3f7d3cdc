/**
 * Creates the ioredis clients of a transport. Roles (design.md "Connections to Redis"):
 * - `command`: one per transport, shared by every channel, with auto-pipelining so the
 *   publishes and acks of one tick leave in one write;
 * - `poll`: one per consuming channel, carries only that channel's pops (never blocked behind
 *   publishes, never blocking them);
 * - `subscriber`: one per consuming channel, in pub/sub mode for fanout and for the
 *   client-tracking invalidations that wake the poller.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { defineScripts } from './scripts.js';

/** The command connection's command timeout when socketTimeout is unset (no command there blocks). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

export type ConnectionRole = 'command' | 'poll' | 'subscriber';

export interface ClientFactoryOptions {
  base: RedisOptions;
  /** Receives ioredis 'error' events (ioredis prints them to the console when nobody listens). */
  onError: (error: Error, role: ConnectionRole) => void;
}

export function createClient(role: ConnectionRole, options: ClientFactoryOptions): Redis {
  const client = new Redis({
    ...options.base,
    lazyConnect: true,
    connectionName: `kelp-${role}`,
    enableAutoPipelining: role === 'command',
    // These calls already carry a whole tick's acks/pushes (AckCoalescer, PushBatcher): wrapping
    // each in an auto-pipeline would only add a Pipeline object per call.
    autoPipeliningIgnoredCommands: ['kelpAck', 'kelpRouteAndPush'],
    // Subscriptions are replayed by the channel poller itself, after it has read the client id
    // that CLIENT TRACKING must redirect to (a subscribed RESP2 connection cannot run CLIENT ID).
    autoResubscribe: role !== 'subscriber',
    // Poll commands are re-issued by the poller; queued retries would double-pop after a reconnect.
    ...(role === 'poll' ? { maxRetriesPerRequest: 0 } : {}),
    // Without socketTimeout a publish or ack on a half-open link (no FIN, no RST) would wait
    // forever; bounded, it rejects with an OperationalError that ensure() can retry elsewhere.
    ...(role === 'command' ? { commandTimeout: options.base.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS } : {}),
  });
  client.on('error', (error: Error) => options.onError(error, role));
  if (role !== 'subscriber') defineScripts(client);
  return client;
}

/** Connects a lazy client; resolves when it is ready. */
export async function connectClient(client: Redis): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait' || client.status === 'end') {
    await client.connect();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      client.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      client.off('ready', onReady);
      reject(error);
    };
    client.once('ready', onReady);
    client.once('error', onError);
  });
}

/** Closes a client without waiting on a dead socket. */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready') await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000).unref())]);
  } catch {
    // QUIT on a half-dead socket fails; disconnect below is what matters.
  }
  client.disconnect(false);
}
