/**
 * An ioredis connector that dials the master serving one hash slot of a Redis Cluster: at every
 * (re)connect it asks the seed nodes (then the nodes a previous answer named) `CLUSTER SLOTS`,
 * and opens a plain socket to that slot's master. So each kelp connection (command, poll,
 * subscriber, confirm) is an ordinary connection to one node, as on redis://, and follows a
 * resharding or failover by reconnecting: a MOVED, READONLY or CLUSTERDOWN reply drops the
 * connection (cluster-options.ts), and the ready check refuses a node that is not a master.
 *
 * Why not ioredis's `Cluster`: it routes each command by key, but kelp's blocking waits, its
 * client-tracking redirect and its subscriptions need a connection of their own on one known
 * node, and in single-slot mode every key is on one node anyway.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { AbstractConnector, Redis, type RedisOptions } from 'ioredis';

/** A seed or cluster node. */
export interface ClusterNodeAddress {
  host: string;
  port: number;
}

export interface ClusterTarget {
  /** The nodes of the URL, asked first. */
  seeds: readonly ClusterNodeAddress[];
  /** The hash slot whose master every connection goes to. */
  slot: number;
  /** How long one node may take to connect and answer `CLUSTER SLOTS` before the next is asked. */
  queryTimeoutMs: number;
}

/** ioredis's message for a connect given up because the client was closed meanwhile. */
const CONNECTION_CLOSED = 'Connection is closed.';

/** One CLUSTER SLOTS range: [start, end, [ip, port, id, ...], ...replicas]. */
type SlotRange = [number, number, ...unknown[][]];

/** The master of `slot` in a `CLUSTER SLOTS` reply, and every node the reply names. */
export function masterOfSlot(reply: unknown, slot: number): { master: ClusterNodeAddress | undefined; nodes: ClusterNodeAddress[] } {
  const ranges = Array.isArray(reply) ? (reply as SlotRange[]) : [];
  const nodes: ClusterNodeAddress[] = [];
  let master: ClusterNodeAddress | undefined;
  for (const [start, end, ...members] of ranges) {
    // A node whose endpoint its peers do not know is named '' or '?' (Redis 7): it cannot be dialled.
    const addresses = members
      .map((member) => ({ host: String(member[0] ?? ''), port: Number(member[1]) }))
      .filter((node) => node.host !== '' && node.host !== '?' && node.port > 0);
    nodes.push(...addresses);
    if (Number(start) <= slot && slot <= Number(end)) master = addresses[0];
  }
  return { master, nodes };
}

type ConnectorOptions = RedisOptions & { host?: string; port?: number };

/** What a `CLUSTER SLOTS` lookup takes from the transport's connection options. */
export type LookupCredentials = Pick<RedisOptions, 'username' | 'password' | 'tls'>;

/**
 * `CLUSTER SLOTS` of one node, over a short-lived connection with the transport's credentials
 * and TLS; rejects with the node's own reason (WRONGPASS, a refused certificate) when it has one.
 */
export async function queryClusterSlots(node: ClusterNodeAddress, credentials: LookupCredentials, timeoutMs: number): Promise<unknown> {
  const client = new Redis({
    host: node.host,
    port: node.port,
    ...(credentials.username ? { username: credentials.username } : {}),
    ...(credentials.password ? { password: credentials.password } : {}),
    ...(credentials.tls ? { tls: credentials.tls } : {}),
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    connectionName: 'kelp-cluster-lookup',
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Why a connect failed comes as an 'error' event; the connect() promise itself only says
  // "Connection is closed.".
  let reported: Error | undefined;
  client.on('error', (error: Error) => (reported ??= error));
  try {
    await client.connect();
    return await client.call('CLUSTER', 'SLOTS');
  } catch (error) {
    throw reported ?? error;
  } finally {
    client.disconnect();
  }
}

/** The connector class ioredis instantiates with each client's options (`Connector` option). */
export function clusterSlotConnector(target: ClusterTarget): new (options: unknown) => AbstractConnector {
  /**
   * The nodes the latest answer named, shared by every connection of the transport: asked after
   * the seeds, so a lookup still works when every seed is gone. Replaced, not added to, so nodes
   * that left the cluster are not tried for ever.
   */
  let learned = new Map<string, ClusterNodeAddress>();
  const key = (node: ClusterNodeAddress) => `${node.host}:${node.port}`;

  return class ClusterSlotConnector extends AbstractConnector {
    private readonly options: ConnectorOptions;

    constructor(options: unknown) {
      const typed = options as ConnectorOptions;
      super(typed.disconnectTimeout ?? 2000);
      this.options = typed;
    }

    /** The ready check's INFO: only a master may serve the slot (a demoted one answers role:slave). */
    override check(info: { role?: string }): boolean {
      return info.role === 'master';
    }

    connect(emit: (type: string, error: Error) => void): Promise<Socket> {
      this.connecting = true;
      let attempts = 0;
      const round = async (): Promise<Socket> => {
        let lastError: Error | undefined;
        const candidates = new Map<string, ClusterNodeAddress>();
        for (const node of [...target.seeds, ...learned.values()]) candidates.set(key(node), node);
        for (const node of candidates.values()) {
          if (!this.connecting) throw new Error(CONNECTION_CLOSED);
          try {
            const { master, nodes } = masterOfSlot(await this.query(node), target.slot);
            if (nodes.length > 0) learned = new Map(nodes.map((named) => [key(named), named]));
            if (master) return this.dial(master);
            lastError = new Error(`cluster node ${key(node)} knows no master for slot ${target.slot}`);
          } catch (error) {
            lastError = error instanceof Error ? error : new Error(String(error));
          }
        }
        if (!this.connecting) throw new Error(CONNECTION_CLOSED);
        // ioredis's name for "no sentinel answered"; kelp applies the same policy to the seeds
        // (connections.ts sentinelRetry): a first connect gives up, a working one keeps asking.
        const delay = this.options.sentinelRetryStrategy?.(++attempts);
        const message = `No cluster node named a reachable master for slot ${target.slot}${lastError ? `: ${lastError.message}` : ''}`;
        const failure = new Error(message);
        if (typeof delay !== 'number') throw failure;
        emit('error', failure);
        await new Promise((resolve) => setTimeout(resolve, delay));
        return round();
      };
      return round();
    }

    /** `CLUSTER SLOTS` of one node, over a short-lived connection with the transport's credentials and TLS. */
    private query(node: ClusterNodeAddress): Promise<unknown> {
      return queryClusterSlots(node, this.options, target.queryTimeoutMs);
    }

    private dial(master: ClusterNodeAddress): Socket {
      const { tls } = this.options;
      const stream = tls ? tlsConnect({ ...(tls as ConnectionOptions), host: master.host, port: master.port }) : netConnect({ host: master.host, port: master.port });
      stream.once('error', (error) => {
        this.firstError = error;
      });
      this.stream = stream;
      return stream;
    }
  };
}
