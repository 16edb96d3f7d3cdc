/**
 * `redis-cli --cluster reshard` moves the hash-tag slot to another master while 4 consumer
 * processes drain 20,000 ids and this process goes on publishing (`retry: true`), in single-slot
 * mode. Every publish must resolve (published again by hand when `retry: true` still rejects with
 * OperationalError) and every id be acked (lost = 0, counted from acks);
 * deliveries beyond the first are reported. Afterwards no kelp connection is left on
 * the old master: the ones that met MOVED moved, and took the subscriber along.
 */
import { join } from 'node:path';
import { Connection, OperationalError } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySlot } from '../../packages/transport-redis/src/cluster-slot.js';
import { bundle, consumerWorkerEntry, type Bundle } from '../faults/support/bundle.js';
import { waitFor } from '../faults/support/redis-data.js';
import { reportScenario } from '../faults/support/report.js';
import { killWorker, makeLogDir, spawnWorker, type WorkerHandle } from '../faults/support/workers.js';
import { startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';
import { countAcks, idsInRedis } from './support/logs.js';

const QUEUE = 'cluster-reshard';
const CONSUMERS = 4;
const TOTAL = 20_000;
/** Publishes made one after another while the slot moves, at least. */
const LIVE_MIN = 500;
/** The slot moves once this many ids are acked. */
const MOVE_AFTER = 3000;
/** The first slot of each master `redis-cli --cluster create` makes with three masters. */
const FIRST_SLOTS = [0, 5461, 10923];

/** A hash tag in the first slot of a master's range: redis-cli's reshard then moves that slot alone. */
const TAG = (() => {
  for (let n = 0; ; n++) if (FIRST_SLOTS.includes(keySlot(`{reshard-${n}}`))) return `reshard-${n}`;
})();
const PREFIX = `{${TAG}}:`;

let topology: ClusterTopology;
let consumerBundle: Bundle;
const workers: WorkerHandle[] = [];
beforeAll(async () => {
  [topology, consumerBundle] = await Promise.all([startClusterTopology(), bundle(consumerWorkerEntry, 'cluster-reshard-consumer')]);
}, 60_000);
afterAll(async () => {
  await Promise.allSettled(workers.map((w) => killWorker(w, 'SIGKILL')));
  consumerBundle?.remove();
  await topology?.stop();
});

async function kelpClients(port: number): Promise<string[]> {
  const client = topology.nodeClient(port);
  try {
    return String(await client.client('LIST')).split('\n').filter((line) => / name=kelp-(command|poll|subscriber|confirm) /.test(line));
  } finally {
    client.disconnect();
  }
}

describe('resharding the hash-tag slot under load', () => {
  it('loses no id while 4 consumers drain 20,000 and the slot moves to another master', { timeout: 150_000 }, async () => {
    const url = topology.url();
    const slot = await topology.slotOf(`${PREFIX}x`);
    expect(slot).toBe(keySlot(`${PREFIX}x`));
    const transportOptions = {
      global_keyprefix: PREFIX,
      // A pop whose reply was lost, or an ack refused mid-migration, comes back after 5 s.
      visibility_timeout: 5,
      unacked_restore_interval: 1,
      unacked_restore_throttle: 1,
      unacked_mutex_expire: 5,
    };
    const ids = Array.from({ length: TOTAL }, (_, i) => `r-${i}`);
    {
      await using connection = new Connection(url, { transportOptions });
      const producer = connection.Producer({ routingKey: QUEUE });
      for (let i = 0; i < TOTAL; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => producer.publish({ id }, { routingKey: QUEUE, declare: [] })));
    }
    const from = (await topology.ownerOf(slot)).master;
    const to = (await topology.masters()).find((port) => port !== from) as number;

    const dir = makeLogDir();
    const consumers = Array.from({ length: CONSUMERS }, (_, i) =>
      spawnWorker(consumerBundle.file, { url, queue: QUEUE, prefetch: 20, log: join(dir, `consumer-${i}.log`), transportOptions }),
    );
    workers.push(...consumers);
    await Promise.all(consumers.map((c) => c.ready));
    expect(await waitFor(() => countAcks(consumers).acks.size >= MOVE_AFTER, 60_000, 50)).toBe(true);
    // Publishes go on while the slot moves: each must resolve, and counts as an id like the
    // others. `retry: true` reconnects once per publish (Kombu's ensure), which a migration can
    // outlast: a publish it still rejects (an OperationalError) is published again here, as an
    // application would, and counted.
    await using publisher = new Connection(url, { transportOptions });
    const liveProducer = publisher.Producer({ routingKey: QUEUE });
    await liveProducer.publish({ id: 'live-warm-up' }, { routingKey: QUEUE, declare: [] });
    ids.push('live-warm-up');
    const publishFailures: string[] = [];
    let republished = 0;
    let publishing = true;
    const publishLive = async (id: string): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await liveProducer.publish({ id }, { routingKey: QUEUE, declare: [], retry: true, retryPolicy: { maxRetries: 5, intervalStart: 0.05, intervalStep: 0.05, intervalMax: 0.2 } });
          return;
        } catch (error) {
          if (!(error instanceof OperationalError) || attempt >= 20) {
            publishFailures.push(`${id}: ${String(error)}`);
            return;
          }
          republished++;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    };
    const livePublishes = (async () => {
      for (let i = 0; publishing || i < LIVE_MIN; i++) {
        const id = `live-${i}`;
        ids.push(id);
        await publishLive(id);
      }
    })();
    const startedAt = Date.now();
    const { moved } = await topology.reshard(slot, to);
    const reshardMs = Date.now() - startedAt;
    const ackedWhenMoved = countAcks(consumers).acks.size;
    publishing = false;
    await livePublishes;

    const master = topology.nodeClient(to);
    try {
      const drained = await waitFor(async () => (await idsInRedis(master, PREFIX, QUEUE)).size === 0, 60_000, 250);
      const leftOnOld = await waitFor(async () => (await kelpClients(from)).length === 0, 10_000, 100);
      const onNew = (await kelpClients(to)).length;
      await Promise.all(consumers.map((c) => killWorker(c, 'SIGTERM')));
      const inRedis = await idsInRedis(master, PREFIX, QUEUE);
      const { acks, deliveries, incarnations, failedAcks } = countAcks(consumers);
      // An ack whose reply died with its connection (a MOVED reply to another command on it drops
      // the connection), of a message gone from Redis since: it ran, nothing else removes an
      // unacked entry without pushing the message back.
      const ackUnconfirmed = ids.filter((id) => !acks.has(id) && failedAcks.has(id) && !inRedis.has(id));
      const lost = ids.filter((id) => !acks.has(id) && !inRedis.has(id) && !ackUnconfirmed.includes(id));
      const duplicates = [...deliveries.values()].filter((n) => n > 1).length;
      const fatal = incarnations.flatMap((inc) => inc.events.filter((e) => e.startsWith('E fatal')));
      reportScenario('cluster-reshard', {
        published: ids.length,
        acked: acks.size,
        redelivered: [...deliveries.values()].reduce((n, d) => n + d - 1, 0),
        deadLettered: 0,
        lost: lost.length,
        extra: { livePublishes: ids.length - TOTAL, republished, ackUnconfirmed: ackUnconfirmed.length, slotsMoved: moved, reshardMs, ackedWhenMoved, duplicateIds: duplicates, ackedTwice: [...acks.values()].filter((n) => n > 1).length, stillInRedis: inRedis.size },
      });
      expect(drained).toBe(true);
      expect(publishFailures.slice(0, 5)).toEqual([]);
      expect(lost.slice(0, 20), 'lost (first 20)').toEqual([]);
      expect(acks.size + ackUnconfirmed.length).toBe(ids.length);
      expect(fatal).toEqual([]);
      // The move happened mid-drain, and every consumer's connections followed the slot.
      expect(ackedWhenMoved).toBeLessThan(TOTAL);
      expect([leftOnOld, onNew >= CONSUMERS * 3]).toEqual([true, true]);
    } finally {
      master.disconnect();
    }
  });
});
