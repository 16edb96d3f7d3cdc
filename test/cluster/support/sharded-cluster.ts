/**
 * A six-node cluster for one test file of the sharded layout: started before its tests, stopped
 * after them with every connection `open` gave out.
 */
import { afterAll, beforeAll } from 'vitest';
import { Connection } from 'kelp';
import { startClusterTopology, type ClusterTopology } from '../../setup/cluster-topology.js';

export interface ShardedCluster {
  readonly topology: ClusterTopology;
  /** A connection in the sharded layout with `globalKeyprefix` and a short poll timer (closed after the file). */
  open(extra?: Record<string, unknown>): Connection;
}

export function useShardedCluster(globalKeyprefix: string): ShardedCluster {
  let topology: ClusterTopology | undefined;
  const connections: Connection[] = [];
  beforeAll(async () => {
    topology = await startClusterTopology();
  }, 60_000);
  afterAll(async () => {
    for (const conn of connections) await conn.close().catch(() => undefined);
    await topology?.stop();
  });
  return {
    get topology(): ClusterTopology {
      if (topology === undefined) throw new Error('the cluster is started in beforeAll');
      return topology;
    },
    open(extra = {}) {
      const conn = new Connection(this.topology.url(), { transportOptions: { clusterLayout: 'sharded', globalKeyprefix, brpopTimeout: 0.1, ...extra } });
      connections.push(conn);
      return conn;
    },
  };
}
