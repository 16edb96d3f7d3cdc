/**
 * Delayed delivery survives SIGKILL of every process that moves or consumes (issue 19): 10,000
 * messages are published with countdowns spread over 10 s; three consumer processes (each running
 * a hub, so each is a delayed mover) are all SIGKILLed twice inside that window and restarted.
 * Every message must be acked (counted from the workers' ack log lines, not from deliveries), none
 * delivered before its due time, and a message delivered twice only when the process holding its
 * first delivery unacked was killed (reported). The test process publishes only and runs no hub,
 * so it moves nothing: the killed processes are the only movers.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { Connection, Queue, type PublishResult } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, consumerWorkerEntry, type Bundle } from './support/bundle.js';
import { deadLetterKey, queueLength, sleep, unackedIds, waitFor, waitingIds } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';
import { reportScenario } from './support/report.js';
import { analyseDeliveries, killWorker, makeLogDir, readIncarnation, spawnWorker, type WorkerHandle } from './support/workers.js';

const TOTAL = 10_000;
const WINDOW_MS = 10_000;
const WORKERS = 3;
const PREFETCH = 50;
// What a killed worker held comes back within ~3 s (visibility timeout) plus a sweep.
const transportOptions = { visibility_timeout: 3, unacked_restore_interval: 0.5, unacked_restore_throttle: 1 };

let redis: FaultRedis;
let worker: Bundle;
let logDir: string;

beforeAll(async () => {
  [redis, worker] = await Promise.all([FaultRedis.start(), bundle(consumerWorkerEntry, 'consumer-worker')]);
  logDir = makeLogDir();
});

afterAll(async () => {
  await redis?.stop();
  worker?.remove();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

/** The ids in `queue`'s delayed set (`_kelp.delayed.<q>`, member `<step>|<envelope>`), read from the keys. */
async function delayedIds(admin: Redis, queue: string): Promise<string[]> {
  const members = await admin.zrange(`_kelp.delayed.${queue}`, 0, -1);
  return members.map((member) => {
    const envelope = JSON.parse(member.slice(member.indexOf('|') + 1)) as { body: string };
    return String((JSON.parse(Buffer.from(envelope.body, 'base64').toString('utf8')) as { id: unknown }).id);
  });
}

describe('delayed delivery: every mover SIGKILLed', () => {
  it('delivers each of 10,000 delayed messages, none before its due time, none lost, through two kills of every process', { timeout: 60_000 }, async () => {
    const queue = 'delayed-faults';
    const url = redis.url(0);
    const admin = redis.admin();
    const ids = Array.from({ length: TOTAL }, (_, i) => `m${i}`);
    const producerConnection = new Connection(url);
    await new Queue(queue).bind(await producerConnection.defaultChannel()).declare();

    const incarnations: WorkerHandle[] = [];
    const slots: WorkerHandle[] = [];
    const start = (slot: number): WorkerHandle => {
      const handle = spawnWorker(worker.file, { url, queue, prefetch: PREFETCH, log: join(logDir, `w${slot}-${incarnations.length}.log`), transportOptions });
      incarnations.push(handle);
      slots[slot] = handle;
      return handle;
    };
    const inRedisNow = async (): Promise<Set<string>> =>
      new Set([...(await waitingIds(admin, queue)), ...(await unackedIds(admin, queue)), ...(await delayedIds(admin, queue))]);
    const inRedisAfterKill = new Map<WorkerHandle, Set<string>>();

    try {
      await Promise.all(Array.from({ length: WORKERS }, (_, slot) => start(slot).ready));
      // Due times from 1.5 s to 11.5 s after the publish loop began, spread evenly by id.
      const began = Date.now();
      const producer = producerConnection.Producer({ routingKey: queue });
      const dueOf = new Map<string, number>();
      const results: PublishResult[] = [];
      for (let from = 0; from < TOTAL; from += 500) {
        const batch = ids.slice(from, from + 500);
        const published = await Promise.all(
          batch.map((id, i) => producer.publish({ id }, { eta: new Date(began + 1_500 + ((from + i) / TOTAL) * WINDOW_MS) })),
        );
        published.forEach((result, i) => dueOf.set(batch[i] as string, result.deliverAt as number));
        results.push(...published);
      }
      const publishMs = Date.now() - began;

      // Consumers that lag (a loaded machine) would hide an early move behind their backlog, so the
      // queue itself is sampled too: a message in the list or unacked before its due time, as seen
      // when the read has finished, was moved early.
      let sampling = true;
      const movedEarly = new Set<string>();
      const sampler = (async () => {
        while (sampling) {
          const present = [...(await waitingIds(admin, queue)), ...(await unackedIds(admin, queue))];
          const readAt = Date.now();
          for (const id of present) if ((dueOf.get(id) as number) > readAt) movedEarly.add(id);
          await sleep(100);
        }
      })();

      // Every process that moves or consumes is SIGKILLed at once, twice, while messages fall due.
      let kills = 0;
      const delayedAtKills: number[] = [];
      for (const at of [4_500, 8_000]) {
        await sleep(Math.max(0, began + at - Date.now()));
        const victims = [...slots];
        await Promise.all(victims.map((victim) => killWorker(victim, 'SIGKILL')));
        await sleep(50);
        delayedAtKills.push(await admin.zcard(`_kelp.delayed.${queue}`));
        const state = await inRedisNow();
        for (const victim of victims) inRedisAfterKill.set(victim, state);
        kills += victims.length;
        // Nobody moves or consumes for a while: due messages must wait for the next mover.
        await sleep(300);
        await Promise.all(victims.map((_, slot) => start(slot).ready));
      }

      // Settled: nothing delayed, waiting or unacked any more (every message was taken and acked).
      const settled = await waitFor(
        async () => (await admin.zcard(`_kelp.delayed.${queue}`)) === 0 && (await queueLength(admin, queue)) === 0 && (await admin.hlen('unacked')) === 0,
        45_000 - (Date.now() - began),
        250,
      );
      sampling = false;
      await sampler;
      const stillInRedis = await inRedisNow();
      const stillDelayed = await admin.zcard(`_kelp.delayed.${queue}`);
      const deadLettered = await admin.llen(deadLetterKey(queue));
      await Promise.all(slots.map((w) => killWorker(w, 'SIGTERM', 5_000)));

      const logs = incarnations.map((w, i) => ({ ...readIncarnation(w.log, w.killed, i), inRedisAfterKill: inRedisAfterKill.get(w) }));
      const analysis = analyseDeliveries(ids, logs, stillInRedis);
      const deliveries = logs.flatMap((inc) => inc.deliveries);
      const early = deliveries.filter((d) => d.at < (dueOf.get(d.id) as number));
      const lateness = deliveries.filter((d) => !d.redelivered).map((d) => d.at - (dueOf.get(d.id) as number)).sort((a, b) => a - b);
      const ackedIds = new Set(logs.flatMap((inc) => [...inc.acked]));
      const neverAcked = ids.filter((id) => !ackedIds.has(id));
      const where = async (id: string): Promise<string> => {
        const place = (await waitingIds(admin, queue)).includes(id) ? 'waiting' : (await unackedIds(admin, queue)).includes(id) ? 'unacked' : (await delayedIds(admin, queue)).includes(id) ? 'delayed' : 'gone';
        const seen = logs.flatMap((inc) => inc.deliveries.filter((d) => d.id === id).map((d) => `${inc.killed ? 'killed' : 'alive'}#${d.incarnation}@${d.at - began}`));
        return `${id}:${place}:due@${(dueOf.get(id) as number) - began}:${seen.join('/') || 'undelivered'}`;
      };
      // Ids without an ack log line, and where they are: `gone` after a delivery to a killed worker
      // means its ack reached Redis and the kill cut the line that says so.
      const withoutAckLine = await Promise.all(neverAcked.slice(0, 5).map(where));
      reportScenario('delayed', {
        published: results.filter((r) => r.status === 'routed').length,
        acked: ackedIds.size,
        redelivered: analysis.redeliveries,
        deadLettered,
        lost: analysis.lost.length,
        extra: {
          kills,
          duplicates: analysis.redeliveries,
          afterKill: analysis.afterKill,
          unexplainedDuplicates: analysis.unexplained.length,
          early: early.length,
          movedEarly: movedEarly.size,
          lateP50Ms: lateness[Math.floor(lateness.length / 2)] ?? -1,
          lateMaxMs: lateness[lateness.length - 1] ?? -1,
          publishMs,
          delayedAtKills: delayedAtKills.join(','),
          withoutAckLine: `${neverAcked.length}:${withoutAckLine.join(',') || 'none'}`,
          seconds: ((Date.now() - began) / 1000).toFixed(1),
        },
      });

      expect(results.every((r) => r.status === 'routed' && r.deliverAt !== undefined)).toBe(true);
      // Both kills came while messages were still waiting for their due time.
      expect(delayedAtKills.every((n) => n > 0)).toBe(true);
      expect(early.slice(0, 10)).toEqual([]);
      expect([...movedEarly].slice(0, 10)).toEqual([]);
      expect({ settled, stillDelayed, neverDelivered: analysis.neverDelivered.slice(0, 20), lost: analysis.lost.slice(0, 20) }).toEqual({
        settled: true,
        stillDelayed: 0,
        neverDelivered: [],
        lost: [],
      });
      // An id whose ack log line a kill cut off counts as acked only if its ack reached Redis (gone right after the kill).
      const landedNeverConfirmed = new Set(analysis.kills.flatMap((k) => k.ackMayHaveLanded)).size;
      expect(ackedIds.size).toBeGreaterThanOrEqual(TOTAL - landedNeverConfirmed);
      expect(analysis.afterAck.slice(0, 20)).toEqual([]);
      expect(analysis.unexplained.slice(0, 20)).toEqual([]);
      expect(deadLettered).toBe(0);
    } finally {
      await Promise.all(incarnations.map((w) => killWorker(w, 'SIGKILL')));
      await producerConnection.close();
    }
  });
});
