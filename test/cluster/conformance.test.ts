/**
 * The shared conformance suite (test/conformance) on a rediscluster:// URL in single-slot mode:
 * every connection goes to the master of the prefix's hash-tag slot on a real six-node cluster.
 * Whatever passes on redis:// must pass here too.
 */
import { afterAll, beforeAll } from 'vitest';
import { defineConformanceSuite } from '../conformance/suite.js';
import { startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';

let topology: ClusterTopology;
beforeAll(async () => {
  topology = await startClusterTopology();
}, 60_000);
afterAll(() => topology?.stop());

defineConformanceSuite('rediscluster (single_slot)', {
  url: () => topology.url(),
  // A short poll timer keeps "nothing more arrives" checks quick even without tracking.
  transportOptions: { brpopTimeout: 0.2, globalKeyprefix: '{conformance}:' },
  supportsVisibilityTimeout: true,
  idleSeconds: 0.5,
});
