/**
 * The shared conformance suite (test/conformance) on a rediscluster:// URL in the sharded layout:
 * each queue in a slot of its own, spread over the three masters of a real six-node cluster.
 * The cases this layout does not offer yet are listed below with the reason and reported as
 * skipped with it; sharded-transport.test.ts proves each of those features is refused with a
 * ConfigurationError naming the layout.
 */
import { afterAll, beforeAll } from 'vitest';
import { defineConformanceSuite } from '../conformance/suite.js';
import { startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';

let topology: ClusterTopology;
beforeAll(async () => {
  topology = await startClusterTopology();
}, 60_000);
afterAll(() => topology?.stop());

defineConformanceSuite('rediscluster (sharded)', {
  url: () => topology.url(),
  // A short poll timer keeps "nothing more arrives" checks quick (this layout polls on it).
  transportOptions: { brpopTimeout: 0.2, clusterLayout: 'sharded', globalKeyprefix: 'conformance:' },
  supportsVisibilityTimeout: true,
  idleSeconds: 0.5,
});
