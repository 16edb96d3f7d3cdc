/**
 * kill -9 of the hash-tag slot's master under load, in single-slot mode: 3 consumer and 2
 * producer processes on one rediscluster:// URL, every publish confirmed by one replica (`WAIT`),
 * the master killed mid-stream; its replica takes over (cluster-node-timeout 1 s). The URL names
 * only the killed master as a seed, and no process is restarted. Every confirmed id must be acked (lost = 0, counted from acks); extra deliveries
 * are reported with their causes (publish attempts retried after a lost reply, acks that died
 * with the old master).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, consumerWorkerEntry, type Bundle } from '../faults/support/bundle.js';
import { waitFor } from '../faults/support/redis-data.js';
import { reportScenario } from '../faults/support/report.js';
import { killWorker, makeLogDir, spawnWorker, type WorkerHandle } from '../faults/support/workers.js';
import { repoRoot } from '../setup/child-bundle.js';
import { CLUSTER_PASSWORD, startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';
import type { ProducerConfig } from '../sentinel/support/producer-process.js';
import { countAcks, idsInRedis, readProducerLog } from './support/logs.js';

const PREFIX = '{failover}:';
const QUEUE = 'cluster-failover';
const CONSUMERS = 3;
const PRODUCERS = 2;
const PER_PRODUCER = 3000;
/** The master is killed once this many publishes are confirmed. */
const KILL_AFTER = 2000;
const CONFIRM: ProducerConfig['confirm'] = { replicas: 1, timeout: 1 };
const producerEntry = join(repoRoot, 'test', 'sentinel', 'support', 'producer-process.ts');

let topology: ClusterTopology;
let consumerBundle: Bundle;
let producerBundle: Bundle;
const workers: WorkerHandle[] = [];
beforeAll(async () => {
  [topology, consumerBundle, producerBundle] = await Promise.all([
    startClusterTopology(),
    bundle(consumerWorkerEntry, 'cluster-consumer'),
    bundle(producerEntry, 'cluster-producer'),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.allSettled(workers.map((w) => killWorker(w, 'SIGKILL')));
  consumerBundle?.remove();
  producerBundle?.remove();
  await topology?.stop();
});

describe('kill -9 of the hash-tag slot\'s master under load', () => {
  it('loses no confirmed message and needs no restart', { timeout: 120_000 }, async () => {
    const dir = makeLogDir();
    const slot = await topology.slotOf(`${PREFIX}x`);
    // The only seed is the master about to be killed: afterwards the connections find the new
    // master through the nodes the seed named before it died.
    const url = `rediscluster://:${CLUSTER_PASSWORD}@127.0.0.1:${(await topology.ownerOf(slot)).master}`;
    const transportOptions = {
      global_keyprefix: PREFIX,
      // A pop whose reply died with the master is recorded in unacked: restored after 5 s.
      visibility_timeout: 5,
      unacked_restore_interval: 1,
      unacked_restore_throttle: 1,
      unacked_mutex_expire: 5,
    };
    const consumers = Array.from({ length: CONSUMERS }, (_, i) =>
      spawnWorker(consumerBundle.file, { url, queue: QUEUE, prefetch: 20, log: join(dir, `consumer-${i}.log`), transportOptions }),
    );
    workers.push(...consumers);
    await Promise.all(consumers.map((c) => c.ready));
    const producerLogs = Array.from({ length: PRODUCERS }, (_, i) => join(dir, `producer-${i}.log`));
    const producers = producerLogs.map((log, i) =>
      spawnWorker(producerBundle.file, { url, transportOptions, queue: QUEUE, prefix: `p${i}-`, count: PER_PRODUCER, lanes: 8, log, confirm: CONFIRM } satisfies ProducerConfig),
    );
    workers.push(...producers);
    await Promise.all(producers.map((p) => p.ready));

    const confirmedSoFar = () => producerLogs.reduce((n, log) => n + readProducerLog(log).confirmed.size, 0);
    expect(await waitFor(() => confirmedSoFar() >= KILL_AFTER, 60_000, 50)).toBe(true);
    const { port: oldMaster, killedAt } = await topology.killMasterOf(slot);
    const newMaster = await topology.waitForNewMaster(slot, oldMaster, 30_000);
    const promotedSeenMs = Date.now() - killedAt;
    // The promoted replica has none of its own: give it one, so publishes are confirmed again.
    await topology.adoptReplica(newMaster);

    await Promise.all(producers.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 60_000))])));
    const logs = producerLogs.map(readProducerLog);
    const confirmed = new Set(logs.flatMap((log) => [...log.confirmed]));
    const master = topology.nodeClient(newMaster);
    try {
      // Settled: every confirmed id acked, or nothing left in the queue or in unacked.
      await waitFor(async () => {
        const { acks } = countAcks(consumers);
        return [...confirmed].every((id) => acks.has(id)) || (await idsInRedis(master, PREFIX, QUEUE)).size === 0;
      }, 45_000, 250);
      await Promise.all(consumers.map((c) => killWorker(c, 'SIGTERM')));
      const inRedis = await idsInRedis(master, PREFIX, QUEUE);
      const { acks, deliveries, failedAcks, incarnations } = countAcks(consumers);
      // An ack whose reply died with its connection, of a message gone from Redis since: it ran.
      const ackUnconfirmed = [...confirmed].filter((id) => !acks.has(id) && failedAcks.has(id) && !inRedis.has(id));
      const lost = [...confirmed].filter((id) => !acks.has(id) && !ackUnconfirmed.includes(id));
      const extraAcks = [...acks.entries()].filter(([id, n]) => n > (logs.find((log) => log.attempts.has(id))?.attempts.get(id) ?? 1));
      const fatal = incarnations.flatMap((inc) => inc.events.filter((e) => e.startsWith('E fatal')));
      reportScenario('cluster-kill-master', {
        published: logs.reduce((n, log) => n + log.confirmed.size + log.unconfirmed.size, 0),
        acked: acks.size,
        redelivered: [...deliveries.values()].reduce((n, d) => n + d - 1, 0),
        deadLettered: 0,
        lost: lost.length,
        extra: {
          confirmed: confirmed.size,
          rejectedOperational: logs.reduce((n, log) => n + log.rejected.size, 0),
          retriedPublishes: logs.reduce((n, log) => n + [...log.attempts.values()].filter((a) => a > 1).length, 0),
          ackUnconfirmed: ackUnconfirmed.length,
          acksBeyondCopies: extraAcks.length,
          stillInRedis: inRedis.size,
          unconfirmed: logs.reduce((n, log) => n + log.unconfirmed.size, 0),
          killToPromotionSeenMs: promotedSeenMs,
        },
      });
      expect(lost.slice(0, 20), `lost (first 20) of ${confirmed.size} confirmed`).toEqual([]);
      expect(logs.flatMap((log) => log.bugs)).toEqual([]);
      expect(fatal).toEqual([]);
      // The kill landed mid-stream: publishes were confirmed on both sides of it.
      expect(confirmed.size).toBeGreaterThan(KILL_AFTER + 500);
    } finally {
      master.disconnect();
    }
  });
});
