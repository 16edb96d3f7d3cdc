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
  unsupported: [
    ...[
      'x-max-length > drops the oldest waiting messages past the limit',
      'x-max-length > dead-letters the dropped heads with reason maxlen',
      'x-max-length > refuses publishes past the limit with reject-publish',
      'x-max-length > names only the full queue when a routed publish reaches two queues',
      'x-max-length-bytes > keeps the stored envelopes within the byte limit',
      'x-max-length-bytes > refuses a publish that would go over the byte limit',
    ].map((test) => ({ test, reason: 'x-max-length / x-max-length-bytes are refused in the sharded layout (drop-head counts in a key of another slot)' })),
    ...[
      'delayed delivery > delivers a countdown message no earlier than its due time',
      'delayed delivery > keeps a delayed message out of its queue until due',
      'delayed delivery > takes an eta as a Date or an ISO 8601 string',
      'delayed delivery > delivers every one of many delayed messages once',
      'delayed delivery > moves due messages into their priority sub-lists',
      'delayed delivery > routes at publish time',
      'delayed delivery > lets a purge or delete of the queue remove its delayed messages',
      'delayed delivery > lets restore move delayed messages already due',
    ].map((test) => ({ test, reason: 'countdown / eta is refused in the sharded layout (the delayed index is one key, in one slot)' })),
    ...[
      'x-expires > deletes a queue nobody used for x-expires',
      'x-expires > spares a queue that has a consumer',
      'x-expires > spares a queue read with get more often than x-expires',
      'x-expires > keeps a consumed queue while the program works',
    ].map((test) => ({ test, reason: 'x-expires is refused in the sharded layout (the expiry touch names many queues in one script)' })),
  ],
});
