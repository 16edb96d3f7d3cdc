/**
 * A Redis Cluster on free loopback ports for the cluster tests: six `redis-server
 * --cluster-enabled yes` nodes (each in its own directory, so each has its own nodes.conf),
 * joined by `redis-cli --cluster create ... --cluster-replicas 1`: three masters, one replica
 * each. Every node has a password (`requirepass` + `masterauth`), so the tests also show the
 * URL's password reaching every node. A low `cluster-node-timeout` makes a replica take over a
 * killed master within seconds. Start it once per test file (beforeAll), `stop` in afterAll.
 */
import { execFile } from 'node:child_process';
import { Redis } from 'ioredis';
import type { TestCertificates } from '../faults/support/tls.js';
import { requireCommand } from './prerequisites.js';
import { freePort, startRedisServer, type RedisServerHandle } from './redis-server.js';
import { testServer } from './test-server.js';

export const CLUSTER_PASSWORD = 'cluster-secret';
/** How long the nodes wait before they call a silent master failed. */
export const NODE_TIMEOUT_MS = 1000;
const SLOTS = 16384;

const NODE_ARGS = [
  '--cluster-enabled', 'yes',
  '--cluster-config-file', 'nodes.conf',
  '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
  // A replica may take over at once, however long its link to the master has been down.
  '--cluster-replica-validity-factor', '0',
  '--requirepass', CLUSTER_PASSWORD,
  '--masterauth', CLUSTER_PASSWORD,
  '--repl-diskless-sync-delay', '0',
];

export interface ClusterTopologyOptions {
  /**
   * TLS everywhere: every node also listens on a TLS port, the cluster bus and replication use
   * TLS, and the ports the nodes announce (and this topology's helpers and URLs use) are the TLS
   * ones. The plain ports stay for the harness's readiness PING only.
   */
  tls?: TestCertificates;
  /**
   * This many masters and no replicas, the slots split evenly among them (CLUSTER ADDSLOTSRANGE,
   * joined with CLUSTER MEET, since `redis-cli --cluster create` needs three masters): for
   * measuring how a load spreads over 1, 2 or 3 masters. Unset: three masters with a replica each.
   */
  masters?: number;
}

export interface ClusterSlotOwner {
  master: number;
  replicas: number[];
}

export interface ClusterTopology {
  /** Every node's port, masters and replicas, in start order. */
  readonly ports: readonly number[];
  /** `rediscluster://:<password>@127.0.0.1:<p1>;rediscluster://127.0.0.1:<p2>;...` over `seeds` nodes (`rediss+cluster://` with `tls`). */
  url(seeds?: number): string;
  /** A plain client of one node (the caller closes it). */
  nodeClient(port: number): Redis;
  /** `CLUSTER KEYSLOT key`, as a live node computes it. */
  slotOf(key: string): Promise<number>;
  /** The master and replicas serving `slot` now, as a live node sees it. */
  ownerOf(slot: number): Promise<ClusterSlotOwner>;
  /** The ports of the masters now. */
  masters(): Promise<number[]>;
  /** kill -9 of the master of `slot`; returns its port and the instant of the kill. */
  killMasterOf(slot: number): Promise<{ port: number; killedAt: number }>;
  /** Resolves with the new master of `slot` once a node other than `oldPort` serves it and the cluster is ok again. */
  waitForNewMaster(slot: number, oldPort: number, timeoutMs?: number): Promise<number>;
  /**
   * Gives the master `port` a replica taken from another master (`CLUSTER REPLICATE`), resolved
   * once it is in sync: after a failover the promoted replica has none, and a confirmed publish
   * (WAIT 1) could never be confirmed again.
   */
  adoptReplica(port: number, timeoutMs?: number): Promise<number>;
  /**
   * Moves `slot` to the master `toPort` with `redis-cli --cluster reshard`. redis-cli moves a
   * source's lowest slots first, so this moves every slot of the owner from its first slot up
   * to `slot` (one slot when `slot` is the first its master owns).
   */
  reshard(slot: number, toPort: number, timeoutMs?: number): Promise<{ from: number; moved: number }>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`cluster topology: ${what} within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(100);
  }
}

function redisCli(args: readonly string[], timeoutMs: number, tls: TestCertificates | undefined): Promise<string> {
  const binary = requireCommand('redis-cli', ['--version'], 'redis-tools');
  const tlsArgs = tls ? ['--tls', '--cacert', tls.caFile] : [];
  return new Promise((resolve, reject) => {
    execFile(binary, [...tlsArgs, '-a', CLUSTER_PASSWORD, '--no-auth-warning', ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.slice(0, 2).join(' ')} failed: ${error.message}\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

/** One CLUSTER SLOTS range: [start, end, [ip, port, id], ...replicas]. */
type SlotRange = [number, number, ...[string, number, string?][]];

export async function startClusterTopology(options: ClusterTopologyOptions = {}): Promise<ClusterTopology> {
  const { tls } = options;
  /** Nodes by the port they announce (their TLS port with `tls`). */
  const nodes = new Map<number, RedisServerHandle>();
  try {
    if (options.masters !== undefined && tls) throw new Error('cluster topology: masters without replicas is not offered with TLS');
    for (let i = 0; i < (options.masters ?? 6); i++) {
      const tlsPort = tls ? await freePort() : undefined;
      const tlsArgs = tls
        ? ['--tls-port', String(tlsPort), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile,
            '--tls-auth-clients', 'no', '--tls-cluster', 'yes', '--tls-replication', 'yes']
        : [];
      const node = await startRedisServer({ extraArgs: [...NODE_ARGS, ...tlsArgs], server: testServer({}) });
      nodes.set(tlsPort ?? node.port, node);
    }
  } catch (error) {
    await Promise.allSettled([...nodes.values()].map((node) => node.stop()));
    throw error;
  }
  const ports = [...nodes.keys()];
  const nodeClient = (port: number) =>
    new Redis({
      port,
      host: '127.0.0.1',
      password: CLUSTER_PASSWORD,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      ...(tls ? { tls: { ca: tls.caPem } } : {}),
    });
  const withClient = async <T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> => {
    const client = nodeClient(port);
    client.on('error', () => undefined);
    try {
      return await use(client);
    } finally {
      client.disconnect();
    }
  };
  const alive = () => ports.filter((port) => {
    const node = nodes.get(port);
    return node !== undefined && node.process.exitCode === null && node.process.signalCode === null;
  });
  const clusterInfo = (port: number) => withClient(port, async (client) => String(await client.call('CLUSTER', 'INFO')));
  const slotsSeenBy = (port: number) => withClient(port, async (client) => (await client.call('CLUSTER', 'SLOTS')) as SlotRange[]);
  const ownerSeenBy = async (port: number, slot: number): Promise<ClusterSlotOwner | undefined> => {
    const range = (await slotsSeenBy(port)).find(([start, end]) => start <= slot && slot <= end);
    if (!range) return undefined;
    const [, , master, ...replicas] = range;
    return { master: Number(master?.[1]), replicas: replicas.map((replica) => Number(replica[1])) };
  };
  /** Every live node says cluster_state:ok and names the same master for each of `slots`. */
  const settled = async (slots: readonly number[]): Promise<boolean> => {
    const live = alive();
    const states = await Promise.all(live.map((port) => clusterInfo(port)));
    if (!states.every((text) => text.includes('cluster_state:ok'))) return false;
    for (const slot of slots) {
      const owners = await Promise.all(live.map(async (port) => (await ownerSeenBy(port, slot))?.master));
      if (owners.some((owner) => owner === undefined || owner !== owners[0])) return false;
    }
    return true;
  };
  const stop = async () => {
    await Promise.allSettled([...nodes.values()].map((node) => node.stop()));
  };

  try {
    if (options.masters !== undefined) {
      const count = options.masters;
      for (const [i, port] of ports.entries()) {
        const [from, to] = [Math.floor((i * SLOTS) / count), Math.floor(((i + 1) * SLOTS) / count) - 1];
        await withClient(port, (client) => client.call('CLUSTER', 'ADDSLOTSRANGE', from, to));
        if (i > 0) await withClient(port, (client) => client.call('CLUSTER', 'MEET', '127.0.0.1', ports[0] as number));
      }
      await waitUntil(`cluster_state:ok on every node of ${count} masters`, 30_000, () => settled([0, SLOTS / 2, SLOTS - 1]));
    } else await createWithReplicas();
  } catch (error) {
    await stop();
    throw error;
  }

  async function createWithReplicas(): Promise<void> {
    await redisCli(['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], 60_000, tls);
    // Each master has its replica synced, and every node sees the whole cluster ok.
    await waitUntil('cluster_state:ok on every node with every replica synced', 30_000, async () => {
      if (!(await settled([0, SLOTS / 2, SLOTS - 1]))) return false;
      const replications = await Promise.all(ports.map((port) => withClient(port, (client) => client.info('replication'))));
      const replicas = replications.filter((text) => text.includes('role:slave'));
      return replicas.length === 3 && replicas.every((text) => text.includes('master_link_status:up'));
    });
  }

  const firstLive = () => {
    const port = alive()[0];
    if (port === undefined) throw new Error('cluster topology: no node is running');
    return port;
  };
  const ownerOf = async (slot: number) => {
    const owner = await ownerSeenBy(firstLive(), slot);
    if (!owner) throw new Error(`cluster topology: nobody serves slot ${slot}`);
    return owner;
  };
  const nodeId = (port: number) => withClient(port, async (client) => String(await client.call('CLUSTER', 'MYID')));

  return {
    ports,
    url: (seeds = 3) => {
      const scheme = tls ? 'rediss+cluster' : 'rediscluster';
      return ports.slice(0, seeds).map((port, i) => (i === 0 ? `${scheme}://:${CLUSTER_PASSWORD}@127.0.0.1:${port}` : `${scheme}://127.0.0.1:${port}`)).join(';');
    },
    nodeClient,
    ownerOf,
    slotOf: (key) => withClient(firstLive(), async (client) => Number(await client.call('CLUSTER', 'KEYSLOT', key))),
    async masters() {
      const ranges = await slotsSeenBy(firstLive());
      return [...new Set(ranges.map((range) => Number(range[2]?.[1])))];
    },
    async killMasterOf(slot) {
      const { master } = await ownerOf(slot);
      const node = nodes.get(master);
      if (!node) throw new Error(`cluster topology: no node on port ${master}`);
      const killedAt = Date.now();
      await node.kill('SIGKILL');
      return { port: master, killedAt };
    },
    async waitForNewMaster(slot, oldPort, timeoutMs = 30_000) {
      let port = oldPort;
      await waitUntil(`a master other than ${oldPort} for slot ${slot}`, timeoutMs, async () => {
        port = (await ownerOf(slot)).master;
        return port !== oldPort && (await settled([slot]));
      });
      return port;
    },
    async adoptReplica(port, timeoutMs = 30_000) {
      const id = await nodeId(port);
      // CLUSTER NODES: `<id> <ip:port@bus> <flags> <master id> ...`; a live replica of another master.
      const lines = String(await withClient(port, (client) => client.call('CLUSTER', 'NODES'))).trim().split('\n');
      const donor = lines
        .map((line) => line.split(' '))
        .filter(([, , flags, masterId]) => flags?.includes('slave') && !flags.includes('fail') && masterId !== id)
        .map(([, address]) => Number(/:(\d+)@/.exec(address ?? '')?.[1]))
        .find((candidate) => alive().includes(candidate));
      if (donor === undefined) throw new Error(`cluster topology: no replica to give to ${port}`);
      await withClient(donor, (client) => client.call('CLUSTER', 'REPLICATE', id));
      await waitUntil(`node ${donor} a synced replica of ${port}`, timeoutMs, async () => {
        const text = await withClient(port, (client) => client.info('replication'));
        return new RegExp(`slave\\d+:ip=127\\.0\\.0\\.1,port=${donor},state=online`).test(text);
      });
      return donor;
    },
    async reshard(slot, toPort, timeoutMs = 60_000) {
      const from = (await ownerOf(slot)).master;
      const ranges = (await slotsSeenBy(from)).filter((range) => Number(range[2]?.[1]) === from).sort((a, b) => a[0] - b[0]);
      const first = ranges[0];
      if (!first || first[1] < slot) {
        throw new Error(`cluster topology: slot ${slot} is not in the first slot range of its master ${from}; redis-cli would move other slots first`);
      }
      const moved = slot - first[0] + 1;
      await redisCli(
        ['--cluster', 'reshard', `127.0.0.1:${from}`, '--cluster-from', await nodeId(from), '--cluster-to', await nodeId(toPort),
          '--cluster-slots', String(moved), '--cluster-yes'],
        timeoutMs,
        tls,
      );
      await waitUntil(`slot ${slot} served by ${toPort} on every node`, timeoutMs, async () => (await ownerOf(slot)).master === toPort && (await settled([slot])));
      return { from, moved };
    },
    stop,
  };
}
