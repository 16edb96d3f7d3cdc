/**
 * Graceful stop (issue 4, item 2): `connection.close()` and SIGTERM to `kelp consume` hand every
 * prefetched, undelivered message back to the head of its queue at once (not after the visibility
 * timeout), let the callback in progress finish, and lose nothing a pop was returning meanwhile.
 */
import { spawn } from 'node:child_process';
import { Connection, Queue, type Message } from 'kelp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, cliEntry, type Bundle } from './support/bundle.js';
import { consumeInProcess } from './support/in-process.js';
import { kombuEnvelope, listMessages, queueLength, sleep, unackedIds, waitFor, waitingIds } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';
import { reportScenario } from './support/report.js';

// An hour: anything handed back during these tests was handed back by the stop, not by a sweep.
const transportOptions = { visibility_timeout: 3600 };

let redis: FaultRedis;
let admin: Redis;
/** Each test gets its own db (unacked/unacked_index are per db), selected by `useDb`. */
let db = 0;
const useDb = (n: number): void => {
  db = n;
  admin = redis.admin(n);
};

beforeAll(async () => {
  redis = await FaultRedis.start();
});
afterAll(() => redis?.stop());

/** LPUSHes `count` messages with ids `<prefix>0..`, so `<prefix>0` is consumed first. */
async function fill(queue: string, prefix: string, count: number, pad = 0): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  for (const id of ids) await admin.lpush(queue, kombuEnvelope(pad ? { id, pad: 'p'.repeat(pad) } : { id }, queue).json);
  return ids;
}

describe('connection.close()', () => {
  it('hands the 49 prefetched, undelivered messages back to the head of the queue, marked redelivered, after the callback in progress acked', async () => {
    useDb(1);
    const queue = 'close-prefetched';
    const ids = await fill(queue, 'c', 100);
    const connection = new Connection(redis.url(db), { transportOptions });
    let started = '';
    let finished = '';
    let acks = 0;
    const delivered: string[] = [];
    const errors: string[] = [];
    const running = await consumeInProcess(connection, new Queue(queue), {
      prefetchCount: 50,
      onError: (error) => errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error)),
      callbacks: [
        async (body: unknown, message: Message) => {
          const id = (body as { id: string }).id;
          delivered.push(id);
          if (!started) {
            started = id;
            // The callback in progress while close() runs.
            await sleep(600);
            await message.ack();
            acks += 1;
            finished = id;
            return;
          }
          await message.ack();
          acks += 1;
        },
      ],
    });
    try {
      // Wait for the prefetch window to fill: the callback holds c0, the channel holds 49 more.
      let held = -1;
      await waitFor(async () => {
        const now = await admin.hlen('unacked');
        const steady = started !== '' && now === held && now > 0;
        held = now;
        return steady;
      }, 10_000, 150);
      expect(held).toBe(50);
      const t0 = Date.now();
      await connection.close();
      const closeMs = Date.now() - t0;
      // Anything the consumer still processed after close() would be a duplicate of a handed-back message.
      await sleep(500);

      const list = await listMessages(admin, queue);
      const unackedAfter = await admin.hlen('unacked');
      const head = list.slice(-49);
      const restoredIds = head.map((m) => String((m.body as { id: string }).id));
      reportScenario('graceful-close', {
        published: ids.length,
        acked: acks,
        redelivered: delivered.length - acks,
        deadLettered: 0,
        lost: ids.length - list.length - (finished ? 1 : 0),
        extra: {
          closeMs,
          callbackFinished: finished !== '' ? 'yes' : 'no',
          callbackErrors: errors.length,
          deliveredAfterClose: delivered.length - 1,
          waiting: list.length,
          unackedAfter,
          restoredInOrder: restoredIds.join(',') === ids.slice(1, 50).reverse().join(',') ? 'yes' : 'no',
        },
      });

      expect(errors).toEqual([]);
      expect(delivered).toEqual(['c0']);
      expect(finished).toBe('c0');
      expect(unackedAfter).toBe(0);
      expect(list).toHaveLength(99);
      expect([...restoredIds].sort()).toEqual(ids.slice(1, 50).sort());
      expect(head.every((m) => m.redelivered)).toBe(true);
      // The never-popped tail keeps its place behind them, untouched.
      expect(list.slice(0, 50).map((m) => (m.body as { id: string }).id)).toEqual(ids.slice(50).reverse());
      expect(closeMs).toBeLessThan(5_000);
    } finally {
      await running.stop();
      await connection.close();
    }
  });

  it('loses no message that arrives while the connection is closing (40 races of a publish against close)', async () => {
    useDb(2);
    const queue = 'close-race';
    const ids: string[] = [];
    const acked = new Set<string>();
    const redelivered = new Set<string>();
    const errors: string[] = [];
    for (let round = 0; round < 40; round++) {
      const connection = new Connection(redis.url(db), { transportOptions });
      connection.on('error', (error) => errors.push(`connection error: ${error.name}: ${error.message}`));
      const running = await consumeInProcess(connection, new Queue(queue), {
        prefetchCount: 1,
        onError: (error) => errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error)),
        callbacks: [
          async (body: unknown, message: Message) => {
            const id = (body as { id: string }).id;
            // Delivered again after an earlier round's close() handed it back.
            if (message.redelivered) redelivered.add(id);
            await message.ack();
            acked.add(id);
          },
        ],
      });
      // Let the consumer's pop go out on the empty queue, then race a message against close().
      await sleep(50 + (round % 5) * 10);
      const id = `r${round}`;
      ids.push(id);
      const envelope = kombuEnvelope({ id }, queue).json;
      if (round % 2 === 0) {
        await admin.lpush(queue, envelope);
        // 0-3 ms, or just one event-loop turn: the poll woken by the push is most likely in flight then.
        if (round % 10 === 8) await new Promise((resolve) => setImmediate(resolve));
        else await sleep((round / 2) % 4);
        await connection.close();
      } else {
        // The push lands while close() runs: the wait or pop it wakes returns into a closing channel.
        const closing = connection.close();
        if (round % 4 === 3) await new Promise((resolve) => setImmediate(resolve));
        await admin.lpush(queue, envelope);
        await closing;
      }
      await running.stop();
    }
    const waitingMessages = await listMessages(admin, queue);
    const waiting = waitingMessages.map((m) => String((m.body as { id: string }).id));
    // Popped, then handed back by close() (marked redelivered), and either consumed by a later
    // round or still waiting: the race this test is about.
    const handedBack = redelivered.size + waitingMessages.filter((m) => m.redelivered).length;
    const unacked = await unackedIds(admin, queue);
    const accounted = new Set([...acked, ...waiting]);
    // Left in unacked is not lost (a sweep restores it after the visibility timeout), but it is not handed back either.
    reportScenario('close-race', {
      published: ids.length,
      acked: acked.size,
      redelivered: redelivered.size,
      deadLettered: 0,
      lost: ids.filter((id) => !accounted.has(id) && !unacked.includes(id)).length,
      extra: {
        handedBack,
        leftUnacked: unacked.length,
        leftUnackedIds: unacked.join(',') || 'none',
        waiting: waiting.length,
        errors: [...new Set(errors)].join(' | ') || 'none',
      },
    });
    expect(unacked).toEqual([]);
    expect(ids.filter((id) => !accounted.has(id))).toEqual([]);
    expect(waiting.filter((id) => acked.has(id))).toEqual([]);
    // Both outcomes of the race occurred: delivered and acked before the close, and popped but
    // handed back by it. A consumer that never popped would leave all 40 waiting, untouched.
    expect({ someAcked: acked.size > 0, someHandedBack: handedBack > 0 }).toEqual({ someAcked: true, someHandedBack: true });
  });
  it('stops waiting for a callback that outlives close({ timeout: 1 }) and hands its message back too', async () => {
    useDb(4);
    const queue = 'close-timeout';
    await fill(queue, 't', 3);
    const connection = new Connection(redis.url(db), { transportOptions });
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    let started = '';
    let lateAck = 'not tried';
    const running = await consumeInProcess(connection, new Queue(queue), {
      prefetchCount: 3,
      onError: () => undefined,
      callbacks: [
        async (body: unknown, message: Message) => {
          started ||= (body as { id: string }).id;
          await stuck;
          lateAck = await message.ack().then(
            () => 'acked',
            (error: unknown) => (error instanceof Error ? error.name : String(error)),
          );
        },
      ],
    });
    try {
      expect(await waitFor(() => started !== '', 5_000)).toBe(true);
      const t0 = Date.now();
      await connection.close({ timeout: 1 });
      const closeMs = Date.now() - t0;
      const list = await listMessages(admin, queue);
      const unacked = await admin.hlen('unacked');
      release();
      await sleep(300);
      reportScenario('close-timeout', {
        published: 3,
        acked: lateAck === 'acked' ? 1 : 0,
        redelivered: 0,
        deadLettered: 0,
        lost: 3 - list.length - unacked - (lateAck === 'acked' ? 1 : 0),
        extra: { closeMs, waiting: list.length, unacked, lateAck },
      });
      expect(closeMs).toBeGreaterThanOrEqual(900);
      expect(closeMs).toBeLessThan(4_000);
      expect(unacked).toBe(0);
      expect(list.map((m) => (m.body as { id: string }).id).sort()).toEqual(['t0', 't1', 't2']);
      // The callback that overran finds its message gone: its ack is refused, not silently applied.
      expect(lateAck).not.toBe('acked');
    } finally {
      release();
      await running.stop();
      await connection.close();
    }
  });
});

describe('SIGTERM to kelp consume', () => {
  let cli: Bundle;
  beforeAll(async () => {
    cli = await bundle(cliEntry, 'kelp-cli');
  });
  afterAll(() => cli?.remove());

  it('finishes the message it is writing, acks what it printed and hands every prefetched message back at once', { timeout: 60_000 }, async () => {
    useDb(3);
    const queue = 'sigterm-consume';
    // ~2 KB lines: the 64 KB stdout pipe fills after a few dozen, and the CLI blocks mid-write.
    const ids = await fill(queue, 's', 300, 2000);
    const child = spawn(process.execPath, [cli.file, 'consume', redis.url(db), '--queue', queue, '--prefetch', '50', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // Nobody reads stdout yet: wait until the CLI is stuck writing with a full prefetch window.
      let last = -1;
      const stuck = await waitFor(async () => {
        const now = await queueLength(admin, queue);
        const held = await admin.hlen('unacked');
        const steady = now === last && held > 1;
        last = now;
        return steady;
      }, 20_000, 400);
      expect(stuck, stderr).toBe(true);
      const heldBefore = await admin.hlen('unacked');
      const t0 = Date.now();
      child.kill('SIGTERM');
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      const stopMs = Date.now() - t0;

      const printed = stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => String(((JSON.parse(l) as { body: { id: string } }).body).id));
      const waiting = await waitingIds(admin, queue);
      const unacked = await admin.hlen('unacked');
      const flags = (await listMessages(admin, queue)).map((m) => m.redelivered);
      const handedBack = flags.filter(Boolean).length;
      const firstHandedBack = flags.indexOf(true);
      const accounted = new Set([...printed, ...waiting]);
      reportScenario('sigterm-kelp-consume', {
        published: ids.length,
        acked: printed.length,
        redelivered: 0,
        deadLettered: 0,
        lost: ids.filter((id) => !accounted.has(id)).length,
        extra: { exitCode: String(code), stopMs, heldAtSignal: heldBefore, handedBack, leftUnacked: unacked },
      });

      expect(code, stderr).toBe(0);
      expect(unacked).toBe(0);
      expect(ids.filter((id) => !accounted.has(id))).toEqual([]);
      expect(printed.filter((id) => waiting.includes(id))).toEqual([]);
      expect(printed.length + waiting.length).toBe(ids.length);
      // What the CLI held but never printed went back marked redelivered, all of it at the head
      // (right end): left to right the list is never-popped messages, then handed-back ones.
      expect(handedBack).toBeGreaterThan(0);
      expect(flags.slice(firstHandedBack).every(Boolean)).toBe(true);
      expect(stopMs).toBeLessThan(10_000);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });
});
