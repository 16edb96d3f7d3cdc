/**
 * Bad input (issue 4, item 5): a corpus of malformed messages LPUSHed straight into a queue,
 * interleaved with good ones. The consumer never stops, every good message is delivered, and every
 * bad one ends up in the queue's dead-letter list with a reason and its original bytes, reported
 * through the connection's 'deadLettered' event.
 */
import { Connection, Queue, type Message } from 'kelp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeInProcess } from './support/in-process.js';
import { BODY_LIMIT_BYTES, malformedCorpus, type BadItem } from './support/malformed-corpus.js';
import { deadLetterKey, kombuEnvelope, queueLength, sleep, waitFor } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';
import { reportScenario } from './support/report.js';

/** `max_message_bytes` is the size limit (a transport option, as Kombu keeps such limits in transport_options). */
const transportOptions = { visibility_timeout: 2, unacked_restore_interval: 0.5, unacked_restore_throttle: 1, max_message_bytes: BODY_LIMIT_BYTES };

let redis: FaultRedis;
let admin: Redis;
beforeAll(async () => {
  redis = await FaultRedis.start();
  admin = redis.admin();
});
afterAll(() => redis?.stop());

interface DeadRecord {
  reason: string;
  payloads: Buffer[];
}

/** A dead-letter record's reason and every plausible decoding of its original bytes. */
function parseDeadRecord(raw: Buffer): DeadRecord {
  const payloads: Buffer[] = [];
  let reason = '';
  for (const encoding of ['utf8', 'latin1'] as const) {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(raw.toString(encoding)) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof record['reason'] === 'string' && !reason) reason = record['reason'];
    for (const field of ['payload', 'raw', 'original', 'body']) {
      const value = record[field];
      if (typeof value !== 'string') continue;
      if (record['rawEncoding'] === 'base64' || record[`${field}Encoding`] === 'base64' || record[`${field}_encoding`] === 'base64') {
        payloads.push(Buffer.from(value, 'base64'));
      }
      if (encoding === 'latin1' && [...value].some((c) => c.charCodeAt(0) > 0xff)) continue;
      payloads.push(Buffer.from(value, encoding));
    }
  }
  return { reason, payloads };
}

describe('a queue holding a corpus of malformed messages between good ones', () => {
  it('delivers every good message and dead-letters every bad one with its reason and original bytes', { timeout: 60_000 }, async () => {
    const queue = 'malformed-q';
    const corpus: BadItem[] = malformedCorpus(queue);
    expect(corpus.length).toBeGreaterThanOrEqual(20);
    const goodIds: string[] = [];
    // Three good messages before each bad one and three after the last: the consumer must get past all of them.
    for (const [i, item] of corpus.entries()) {
      for (let j = 0; j < 3; j++) {
        const id = `good-${i}-${j}`;
        goodIds.push(id);
        await admin.lpush(queue, kombuEnvelope({ id }, queue).json);
      }
      await admin.lpush(queue, item.bytes);
    }
    for (let j = 0; j < 3; j++) {
      goodIds.push(`good-end-${j}`);
      await admin.lpush(queue, kombuEnvelope({ id: `good-end-${j}` }, queue).json);
    }

    const connection = new Connection(redis.url(0), { transportOptions });
    const deadEvents: Array<{ queue: string; reason: string }> = [];
    const errors: string[] = [];
    const delivered: string[] = [];
    connection.on('deadLettered', (info) => deadEvents.push(info));
    const running = await consumeInProcess(connection, new Queue(queue), {
      accept: ['json'],
      prefetchCount: 10,
      callbacks: [
        async (body: unknown, message: Message) => {
          delivered.push(String((body as { id?: unknown }).id));
          await message.ack();
        },
      ],
      onError: (error) => errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error)),
    });
    try {
      const dlq = deadLetterKey(queue);
      await waitFor(
        async () => delivered.length >= goodIds.length && (await admin.llen(dlq)) >= corpus.length && (await queueLength(admin, queue)) === 0,
        20_000,
        200,
      );
      // Anything redelivered-and-dead-lettered twice would show up now.
      await sleep(2_500);
      const records = (await admin.lrangeBuffer(dlq, 0, -1)).map(parseDeadRecord);
      const unmatched = corpus.filter((item) => !records.some((r) => r.payloads.some((p) => p.equals(item.bytes)))).map((i) => i.kind);
      const withoutReason = records.filter((r) => r.reason.trim() === '').length;
      const goodMissing = goodIds.filter((id) => !delivered.includes(id));
      const waiting = await queueLength(admin, queue);
      const unacked = await admin.hlen('unacked');
      reportScenario('malformed', {
        published: goodIds.length + corpus.length,
        acked: delivered.length,
        redelivered: delivered.length - new Set(delivered).size,
        deadLettered: records.length,
        lost: goodMissing.length + unmatched.length,
        extra: { badKinds: corpus.length, deadEvents: deadEvents.length, consumerErrors: errors.length, waiting, unacked },
      });
      const reasons = records.map((r) => r.reason);
      const strays = delivered.filter((id) => !goodIds.includes(id));
      if (unmatched.length > 0 || strays.length > 0) {
        console.log(`[faults] malformed detail: ${JSON.stringify({ unmatched, delivered: strays, reasons, consumerErrors: [...new Set(errors)].slice(0, 10) })}`);
      }
      expect(goodMissing).toEqual([]);
      expect(new Set(delivered).size).toBe(goodIds.length);
      expect(unmatched).toEqual([]);
      expect(records.length).toBe(corpus.length);
      expect(withoutReason).toBe(0);
      expect(deadEvents.length).toBe(corpus.length);
      expect(deadEvents.every((e) => e.queue === queue && e.reason !== '')).toBe(true);
      expect({ waiting, unacked }).toEqual({ waiting: 0, unacked: 0 });
    } finally {
      await running.stop();
      await connection.close();
    }
  });
});
