/**
 * Opt-in dead-letter routing (issue 4, item 5): on a queue with dead-letter routing, a message
 * whose handler keeps failing is redelivered (counted in `x-delivery-count`) until it passes
 * `max_redeliveries` and then moved to the dead-letter list, and a reject without requeue goes
 * there too; without routing a reject drops the message as Kombu does. `kelp dead-letters` lists
 * them with their reasons and `--requeue` puts them back.
 */
import { spawn } from 'node:child_process';
import { Connection, Queue, type Message } from 'kelp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, cliEntry, type Bundle } from './support/bundle.js';
import { consumeInProcess } from './support/in-process.js';
import { deadLetterKey, kombuEnvelope, parseStored, queueLength, sleep, unackedIds, waitFor, waitingIds } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';
import { reportScenario } from './support/report.js';

const MAX_REDELIVERIES = 2;

/** Ids (body.id) of the envelopes in a dead-letter list (records `{reason, payload, ...}`). */
async function deadLetteredIds(admin: Redis, queue: string): Promise<string[]> {
  return (await admin.lrange(deadLetterKey(queue), 0, -1)).map((raw) => {
    const record = JSON.parse(raw) as { payload: string };
    return String((parseStored(record.payload).body as { id?: unknown }).id);
  });
}

let redis: FaultRedis;
let cli: Bundle;
beforeAll(async () => {
  [redis, cli] = await Promise.all([FaultRedis.start(), bundle(cliEntry, 'kelp-cli')]);
});
afterAll(async () => {
  await redis?.stop();
  cli?.remove();
});

function kelp(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli.file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('a queue with dead-letter routing', () => {
  it('dead-letters a message that fails more than max_redeliveries times and one rejected without requeue, and kelp dead-letters puts them back', { timeout: 60_000 }, async () => {
    const db = 1;
    const admin: Redis = redis.admin(db);
    const queue = 'poison-q';
    const transportOptions = {
      visibility_timeout: 1,
      unacked_restore_interval: 0.2,
      unacked_restore_throttle: 1,
      dead_letter_queues: queue,
      max_redeliveries: MAX_REDELIVERIES,
    };
    const published = ['good-1', 'poison', 'good-2', 'reject-me', 'good-3'];
    for (const id of published) await admin.lpush(queue, kombuEnvelope({ id }, queue).json);

    const connection = new Connection(redis.url(db), { transportOptions });
    const deliveries: Array<{ id: string; count: unknown }> = [];
    const acked: string[] = [];
    const running = await consumeInProcess(connection, new Queue(queue), {
      prefetchCount: 5,
      // The poison handler throws: its message stays unacked and comes back after the visibility timeout.
      onError: () => undefined,
      callbacks: [
        async (body: unknown, message: Message) => {
          const id = String((body as { id: string }).id);
          deliveries.push({ id, count: message.headers['x-delivery-count'] });
          if (id === 'poison') throw new Error('handler keeps failing');
          if (id === 'reject-me') return message.reject({ requeue: false });
          await message.ack();
          acked.push(id);
        },
      ],
    });
    const dlq = deadLetterKey(queue);
    try {
      await waitFor(async () => (await admin.llen(dlq)) >= 2 && (await admin.hlen('unacked')) === 0, 20_000, 200);
      await sleep(1_500); // a further sweep must not bring the poison message back
      const poisonDeliveries = deliveries.filter((d) => d.id === 'poison');
      const deadCount = await admin.llen(dlq);
      const dead = await deadLetteredIds(admin, queue);
      const inRedis = [...(await waitingIds(admin, queue)), ...(await unackedIds(admin, queue))];
      // Every message is acked, in the dead-letter list, or still in Redis; anything else is lost.
      const lost = published.filter((id) => !acked.includes(id) && !dead.includes(id) && !inRedis.includes(id));
      const listed = await kelp(['dead-letters', redis.url(db), '--queue', queue, '--json']);
      const report = JSON.parse(listed.stdout.trim() || '{}') as { count?: number; entries?: Array<{ reason: string; raw: string }> };
      // Stop consuming first, or the requeued messages would be consumed (and dead-lettered) again at once.
      await running.stop();
      await connection.close();
      const requeued = await kelp(['dead-letters', redis.url(db), '--queue', queue, '--requeue', '--json']);
      const back = await waitingIds(admin, queue);
      reportScenario('poison-dead-letter', {
        published: 5,
        acked: acked.length,
        redelivered: deliveries.length - 5,
        deadLettered: deadCount,
        lost: lost.length,
        extra: { poisonDeliveries: poisonDeliveries.length, deliveryCounts: poisonDeliveries.map((d) => String(d.count)).join(','), listed: report.count ?? `exit ${listed.code}`, requeuedBack: back.length },
      });
      expect(lost).toEqual([]);
      expect(acked.sort()).toEqual(['good-1', 'good-2', 'good-3']);
      expect({ dead: dead.sort(), inRedis }).toEqual({ dead: ['poison', 'reject-me'], inRedis: [] });
      // The first delivery plus MAX_REDELIVERIES redeliveries, then the dead-letter list.
      expect(poisonDeliveries).toHaveLength(1 + MAX_REDELIVERIES);
      // Each redelivery is counted in the x-delivery-count header (absent on the first delivery).
      expect(poisonDeliveries.map((d) => d.count)).toEqual([undefined, 1, 2]);
      expect(deadCount).toBe(2);
      expect(listed.code, listed.stderr).toBe(0);
      expect(report.count).toBe(2);
      expect((report.entries ?? []).every((e) => e.reason.trim() !== '')).toBe(true);
      expect((report.entries ?? []).map((e) => e.raw).join(' ')).toContain('poison');
      expect(requeued.code, requeued.stderr).toBe(0);
      expect(back.sort()).toEqual(['poison', 'reject-me']);
      expect(await admin.llen(dlq)).toBe(0);
    } finally {
      await running.stop();
      await connection.close();
    }
  });
});

describe('a queue without dead-letter routing', () => {
  it('drops a message rejected without requeue, as Kombu does, and keeps nothing in unacked', async () => {
    const db = 2;
    const admin: Redis = redis.admin(db);
    const queue = 'plain-q';
    await admin.lpush(queue, kombuEnvelope({ id: 'drop-me' }, queue).json);
    const connection = new Connection(redis.url(db), { transportOptions: { visibility_timeout: 1, unacked_restore_interval: 0.2, unacked_restore_throttle: 1 } });
    const seen: string[] = [];
    const running = await consumeInProcess(connection, new Queue(queue), {
      callbacks: [
        async (body: unknown, message: Message) => {
          seen.push(String((body as { id: string }).id));
          await message.reject({ requeue: false });
        },
      ],
    });
    try {
      await waitFor(() => seen.length > 0, 10_000);
      await sleep(1_500);
      expect(seen).toEqual(['drop-me']);
      expect(await queueLength(admin, queue)).toBe(0);
      expect(await admin.hlen('unacked')).toBe(0);
      expect(await admin.llen(deadLetterKey(queue))).toBe(0);
    } finally {
      await running.stop();
      await connection.close();
    }
  });
});
