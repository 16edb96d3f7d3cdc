/**
 * Kill at any instant (issue 4, item 1): one producer publishes 20,000 messages with unique ids
 * while 4 consumer processes (prefetch 50) are SIGKILLed at seeded random moments and restarted.
 * With a short visibility timeout and frequent restore sweeps, every id must be acked at least
 * once, and every duplicate delivery must be of a message its killed consumer held unacked.
 * Replay a run with KELP_FAULT_SEED=<seed> (printed in the summary line).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Connection, Queue } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, consumerWorkerEntry, type Bundle } from './support/bundle.js';
import { publishIds } from './support/producer.js';
import { deadLetterKey, queueLength, seededRandom, sleep, unackedIds, waitFor, waitingIds } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';
import { reportScenario } from './support/report.js';
import { analyseDeliveries, killWorker, makeLogDir, readIncarnation, spawnWorker, type WorkerHandle } from './support/workers.js';

const SEED = Number(process.env['KELP_FAULT_SEED'] ?? 20261121);
const TOTAL = Number(process.env['KELP_CHAOS_MESSAGES'] ?? 20_000);
const WORKERS = 4;
const PREFETCH = 50;
const MAX_KILLS = 12;
// Short visibility timeout and a sweep every half second with no throttle: what a killed
// consumer held comes back within ~4 s instead of Kombu's hour.
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

describe('chaos: SIGKILLed consumers', () => {
  it('acks every one of 20,000 messages at least once, with duplicates only of messages unacked at a kill', { timeout: 120_000 }, async () => {
    const random = seededRandom(SEED);
    const queue = `chaos-${SEED}`;
    const url = redis.url(0);
    const admin = redis.admin();
    const ids = Array.from({ length: TOTAL }, (_, i) => `m${i}`);
    const producerConnection = new Connection(url);
    await new Queue(queue).bind(await producerConnection.defaultChannel()).declare();

    const incarnations: WorkerHandle[] = [];
    const slots: WorkerHandle[] = [];
    const start = (slot: number): WorkerHandle => {
      // A 1 ms handler widens the delivered-but-unacked window a kill can land in.
      const handle = spawnWorker(worker.file, {
        url,
        queue,
        prefetch: PREFETCH,
        handlerMs: 1,
        log: join(logDir, `w${slot}-${incarnations.length}.log`),
        transportOptions,
      });
      incarnations.push(handle);
      slots[slot] = handle;
      return handle;
    };
    const delivered = (): number => {
      const seen = new Set<string>();
      for (const [i, w] of incarnations.entries()) for (const d of readIncarnation(w.log, false, i).deliveries) seen.add(d.id);
      return seen.size;
    };

    try {
      await Promise.all(Array.from({ length: WORKERS }, (_, slot) => start(slot).ready));
      const began = Date.now();
      const publishing = publishIds(producerConnection, queue, ids, { concurrency: 64, deadlineMs: 30_000 });

      // Kill while messages flow; stop once 95% were seen so the tail can settle.
      let kills = 0;
      let midStreamKills = 0;
      while (kills < MAX_KILLS && Date.now() - began < 60_000) {
        await sleep(300 + random() * 900);
        const seen = delivered();
        if (seen >= TOTAL * 0.95) break;
        const slot = Math.floor(random() * WORKERS);
        await killWorker(slots[slot] as WorkerHandle, 'SIGKILL');
        kills += 1;
        if (seen > 0) midStreamKills += 1;
        await sleep(random() * 300);
        await start(slot).ready;
      }
      const tally = await publishing;

      const settled = await waitFor(
        async () => (await queueLength(admin, queue)) === 0 && (await admin.hlen('unacked')) === 0 && delivered() === TOTAL,
        Math.max(10_000, 100_000 - (Date.now() - began)),
        500,
      );
      const waiting = await queueLength(admin, queue);
      const unacked = await admin.hlen('unacked');
      // A consumer SIGKILLed inside a restore sweep leaves unacked_mutex behind until it expires.
      const mutexTtlMs = await admin.pttl('unacked_mutex');
      const stillInRedis = new Set([...(await waitingIds(admin, queue)), ...(await unackedIds(admin, queue))]);
      const deadLettered = await admin.llen(deadLetterKey(queue));
      await Promise.all(slots.map((w) => killWorker(w, 'SIGTERM', 5_000)));

      const analysis = analyseDeliveries(ids, incarnations.map((w, i) => readIncarnation(w.log, w.killed, i)));
      // Lost = never delivered and gone from Redis; stranded = still waiting or unacked at the end.
      const lost = analysis.neverDelivered.filter((id) => !stillInRedis.has(id)).length;
      const stranded = stillInRedis.size;
      reportScenario('chaos', {
        published: tally.ok.length,
        acked: TOTAL - lost - stranded,
        redelivered: analysis.redeliveries,
        deadLettered,
        lost,
        extra: {
          seed: SEED,
          stranded,
          mutexTtlMs,
          kills,
          midStreamKills,
          afterKill: analysis.afterKill,
          deliveredMarkedRedelivered: analysis.markedRedelivered,
          unexplainedDuplicates: analysis.unexplained.length,
          seconds: ((Date.now() - began) / 1000).toFixed(1),
        },
      });

      expect(tally.other).toEqual([]);
      expect(tally.hung).toEqual([]);
      expect(tally.ok.length).toBe(TOTAL);
      expect(midStreamKills).toBeGreaterThan(0);
      expect({ settled, waiting, unacked, neverDelivered: analysis.neverDelivered.slice(0, 20) }).toEqual({
        settled: true,
        waiting: 0,
        unacked: 0,
        neverDelivered: [],
      });
      expect(analysis.afterAck.slice(0, 20)).toEqual([]);
      expect(analysis.unexplained.slice(0, 20)).toEqual([]);
      expect(deadLettered).toBe(0);
    } finally {
      await Promise.all(incarnations.map((w) => killWorker(w, 'SIGKILL')));
      await producerConnection.close();
    }
  });
});
