/**
 * A Redis Sentinel topology on free loopback ports for the sentinel tests: one master, two
 * replicas and three sentinels (`redis-server --sentinel` with a generated sentinel.conf), quorum
 * 2, and low `down-after-milliseconds` / `failover-timeout` so a failover takes seconds. Every
 * node has a password and so have the sentinels (a different one), so the tests also show which
 * password goes where: the URL's is the master's, `sentinel_kwargs.password` the sentinels'.
 * Start it once per test file (`startSentinelTopology` in beforeAll, `stop` in afterAll).
 */
import { Redis } from 'ioredis';
import type { TestCertificates } from '../faults/support/tls.js';
import { freePort, startRedisServer, type RedisServerHandle } from './redis-server.js';

export const MASTER_NAME = 'kelpmaster';
export const MASTER_PASSWORD = 'master-secret';
export const SENTINEL_PASSWORD = 'sentinel-secret';
/** How long the sentinels wait before they call a silent master down. */
export const DOWN_AFTER_MS = 1000;
const FAILOVER_TIMEOUT_MS = 4000;

// No diskless-sync delay (Redis 7 waits 5 s for more replicas): replicas are in sync at once.
const DATA_ARGS = ['--requirepass', MASTER_PASSWORD, '--masterauth', MASTER_PASSWORD, '--repl-diskless-sync-delay', '0'];

export interface SentinelTopologyOptions {
  /**
   * TLS everywhere: every node and sentinel also listens on a TLS port, replication and the
   * sentinels' own links use TLS, and the ports the sentinels name (and the ones this topology's
   * helpers take) are the TLS ones. The plain ports stay for the harness's readiness PING and
   * its sentinel queries.
   */
  tls?: TestCertificates;
}

export interface SentinelTopology {
  /** The ports a client gives in its sentinel:// URL (the TLS ones with `tls`). */
  readonly sentinelPorts: readonly number[];
  /** `sentinel://:<master password>@127.0.0.1:<s1>/<db>;sentinel://127.0.0.1:<s2>;...` */
  url(db: number): string;
  /** The transport options a kelp Connection needs for {@link url}. */
  readonly transportOptions: { masterName: string; sentinelKwargs: { password: string } };
  /** The port of the master as the sentinels see it now. */
  masterPort(): Promise<number>;
  /** A plain client of one data node (the caller closes it). */
  nodeClient(port: number): Redis;
  /** `INFO replication` of one data node, over a connection of its own. */
  replication(port: number): Promise<Map<string, string>>;
  /** `INFO <section>` of one data node as text, over a connection of its own. */
  info(port: number, section: string): Promise<string>;
  /** The kelp connections (`name=kelp-*` in CLIENT LIST) one data node has now. */
  kelpClients(port: number): Promise<string[]>;
  /** kill -9 of the current master; returns its port and the instant of the kill. */
  killMaster(): Promise<{ port: number; killedAt: number }>;
  /** `SENTINEL FAILOVER`, resolved once every sentinel names the new master and it says role:master. */
  failover(): Promise<{ from: number; to: number }>;
  /** Resolves with the new master's port once every sentinel names one other than `port` and it is ready. */
  waitForNewMaster(port: number, timeoutMs?: number): Promise<number>;
  /** Starts the killed node again on its port (empty, as after a crash without persistence); resolves once the sentinels made it a synced replica. */
  restart(port: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function tlsArgs(certs: TestCertificates, tlsPort: number): string[] {
  return ['--tls-port', String(tlsPort), '--tls-cert-file', certs.certFile, '--tls-key-file', certs.keyFile,
    '--tls-ca-cert-file', certs.caFile, '--tls-auth-clients', 'no', '--tls-replication', 'yes'];
}

function sentinelConfig(masterPort: number): string {
  return [
    `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
    `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
    `sentinel failover-timeout ${MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
    `sentinel parallel-syncs ${MASTER_NAME} 2`,
    `sentinel auth-pass ${MASTER_NAME} ${MASTER_PASSWORD}`,
    `requirepass ${SENTINEL_PASSWORD}`,
    `sentinel sentinel-pass ${SENTINEL_PASSWORD}`,
    '',
  ].join('\n');
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
    if (Date.now() > deadline) throw new Error(`sentinel topology: ${what} within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(100);
  }
}

/** `INFO <section>` as a map. */
export async function info(client: Redis, section: string): Promise<Map<string, string>> {
  const text = await client.info(section);
  return new Map(text.split('\r\n').filter((line) => line.includes(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]));
}

export async function startSentinelTopology(options: SentinelTopologyOptions = {}): Promise<SentinelTopology> {
  const { tls } = options;
  /** Data nodes by the port the sentinels name them by. */
  const nodes = new Map<number, RedisServerHandle>();
  const sentinels: RedisServerHandle[] = [];
  const sentinelPorts: number[] = [];
  /** Starts a data node reachable on `port` (its TLS port with `tls`). */
  const startNode = async (port: number | undefined, extraArgs: string[]): Promise<number> => {
    if (!tls) {
      const node = await startRedisServer({ ...(port === undefined ? {} : { port }), extraArgs: [...DATA_ARGS, ...extraArgs] });
      nodes.set(node.port, node);
      return node.port;
    }
    const tlsPort = port ?? (await freePort());
    nodes.set(tlsPort, await startRedisServer({ extraArgs: [...DATA_ARGS, ...tlsArgs(tls, tlsPort), ...extraArgs] }));
    return tlsPort;
  };
  const masterAt = await startNode(undefined, []);
  for (let i = 0; i < 2; i++) await startNode(undefined, ['--replicaof', '127.0.0.1', String(masterAt)]);
  for (let i = 0; i < 3; i++) {
    const tlsPort = tls ? await freePort() : undefined;
    const sentinel = await startRedisServer({ sentinelConfig: sentinelConfig(masterAt), extraArgs: tls ? tlsArgs(tls, tlsPort as number) : [] });
    sentinels.push(sentinel);
    sentinelPorts.push(tlsPort ?? sentinel.port);
  }
  const sentinelClient = (port: number) =>
    new Redis({ port, host: '127.0.0.1', password: SENTINEL_PASSWORD, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const nodeClient = (port: number) =>
    new Redis({
      port,
      host: '127.0.0.1',
      password: MASTER_PASSWORD,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      ...(tls ? { tls: { ca: tls.caPem } } : {}),
    });
  /**
   * Runs `use` on a fresh connection. A node being demoted has its clients killed by the
   * sentinels (CLIENT KILL TYPE normal), this probe included: a closed connection is tried again.
   */
  const withClient = async <T>(connect: () => Redis, use: (client: Redis) => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const client = connect();
      client.on('error', () => undefined);
      try {
        return await use(client);
      } catch (error) {
        const closed = error instanceof Error && error.name !== 'ReplyError';
        if (!closed || attempt >= 5) throw error;
        await sleep(100);
      } finally {
        client.disconnect();
      }
    }
  };
  const masterState = (port: number) =>
    withClient(() => sentinelClient(port), async (client) => {
      const flat = (await client.call('SENTINEL', 'MASTER', MASTER_NAME)) as string[];
      const state = new Map<string, string>();
      for (let i = 0; i + 1 < flat.length; i += 2) state.set(flat[i] as string, flat[i + 1] as string);
      return state;
    });
  const nodeRole = (port: number) => withClient(() => nodeClient(port), async (client) => info(client, 'replication'));
  const masterPorts = async () => Promise.all(sentinels.map(async (s) => Number((await masterState(s.port)).get('port'))));

  // Replicas synced (state=online), and every sentinel knows both replicas and the two other sentinels: only
  // then can a failover reach its quorum and find a replica to promote.
  await waitUntil('replicas synced and sentinels acquainted', 30_000, async () => {
    const states = await Promise.all(sentinels.map((s) => masterState(s.port)));
    const acquainted = states.every((s) => s.get('num-slaves') === '2' && s.get('num-other-sentinels') === '2');
    const replication = await nodeRole(masterAt);
    const online = ['slave0', 'slave1'].every((key) => replication.get(key)?.includes('state=online'));
    return acquainted && replication.get('connected_slaves') === '2' && online;
  });

  const masterPort = async () => (await masterPorts())[0] as number;
  const waitForNewMaster = async (old: number, timeoutMs = 30_000) => {
    let port = old;
    await waitUntil(`a master other than ${old}`, timeoutMs, async () => {
      const ports = await masterPorts();
      port = ports[0] as number;
      if (port === old || ports.some((p) => p !== port)) return false;
      return (await nodeRole(port)).get('role') === 'master';
    });
    return port;
  };

  return {
    sentinelPorts,
    url: (db) =>
      sentinelPorts.map((port, i) => (i === 0 ? `sentinel://:${MASTER_PASSWORD}@127.0.0.1:${port}/${db}` : `sentinel://127.0.0.1:${port}`)).join(';'),
    transportOptions: { masterName: MASTER_NAME, sentinelKwargs: { password: SENTINEL_PASSWORD } },
    masterPort,
    nodeClient,
    replication: nodeRole,
    info: (port, section) => withClient(() => nodeClient(port), (client) => client.info(section)),
    kelpClients: (port) =>
      withClient(() => nodeClient(port), async (client) => String(await client.client('LIST')).split('\n').filter((line) => / name=kelp-/.test(line))),
    async killMaster() {
      const port = await masterPort();
      const node = nodes.get(port);
      if (!node) throw new Error(`sentinel topology: no node on port ${port}`);
      const killedAt = Date.now();
      await node.kill('SIGKILL');
      return { port, killedAt };
    },
    async failover() {
      const from = await masterPort();
      await withClient(() => sentinelClient(sentinels[0]?.port as number), (client) => client.call('SENTINEL', 'FAILOVER', MASTER_NAME));
      return { from, to: await waitForNewMaster(from) };
    },
    waitForNewMaster,
    async restart(port, timeoutMs = 30_000) {
      await nodes.get(port)?.stop();
      await startNode(port, []);
      await waitUntil(`node ${port} back as a synced replica`, timeoutMs, async () => {
        const replication = await nodeRole(port);
        return replication.get('role') === 'slave' && replication.get('master_link_status') === 'up';
      });
    },
    async stop() {
      await Promise.allSettled([...sentinels, ...nodes.values()].map((s) => s.stop()));
    },
  };
}
