/**
 * Queue expiry (docs/wire-format.md#queue-expiry): a queue declared with `x-expires` (ms) that
 * nobody uses for that long (no consumer, no get, no redeclaration) is deleted with its waiting
 * and delayed messages; one with a consumer or read by gets is spared.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Consumer, NotFoundError, Queue, type Connection, type Message } from 'kelp';
import { caught, declareQueue, drainIdle, publish, sleep, type SuiteContext } from './context.js';

const EXPIRES_MS = 1500;
/** Past EXPIRES_MS with room for a loaded machine's timers. */
const IDLE_MS = 3000;

async function exists(conn: Connection, queue: string): Promise<boolean> {
  const channel = await conn.channel();
  try {
    await channel.queueDeclare(queue, { passive: true });
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  } finally {
    await channel.close();
  }
}

export function queueExpiryTests(ctx: SuiteContext): void {
  describe('x-expires', () => {
    it('deletes a queue nobody used for x-expires, with its waiting and delayed messages', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('qexp');
      await declareQueue(conn, name, { queueArguments: { 'x-expires': EXPIRES_MS } });
      await publish(conn, { id: 1 }, { exchange: '', routingKey: name });
      await publish(conn, { id: 2 }, { exchange: '', routingKey: name, countdown: 60 });
      expect(await exists(conn, name)).toBe(true);
      await sleep(IDLE_MS);
      expect(await exists(conn, name)).toBe(false);
      const row = (await conn.transport.admin?.inspect())?.queues.find((q) => q.name === name);
      expect(row === undefined || (row.length === 0 && row.delayed === undefined)).toBe(true);
      const queue = new Queue(name).bind(await conn.defaultChannel());
      expect(await queue.get({ noAck: true })).toBeUndefined();
    });

    it('spares a queue that has a consumer, for as long as it has one', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('qexp');
      await declareQueue(conn, name, { queueArguments: { 'x-expires': EXPIRES_MS } });
      for (const id of [1, 2, 3]) await publish(conn, { id }, { exchange: '', routingKey: name });
      const consuming = await ctx.connection();
      const held: Message[] = [];
      const consumer = new Consumer(await consuming.channel(), [new Queue(name)], { prefetchCount: 1, onMessage: (m) => void held.push(m) });
      await consumer.consume();
      // The consumer holds one message unacked and the others wait, through twice x-expires.
      await drainIdle(consuming, IDLE_MS / 1000);
      expect(held.length).toBe(1);
      expect(await exists(conn, name)).toBe(true);
      const queue = new Queue(name).bind(await conn.defaultChannel());
      expect((await queue.get({ noAck: true }))?.payload).toEqual({ id: 2 });
    });

    it('spares a queue read with get more often than x-expires', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('qexp');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-expires': EXPIRES_MS } });
      for (let id = 0; id < 10; id++) await publish(conn, { id }, { exchange: '', routingKey: name });
      for (let n = 0; n < 6; n++) {
        await sleep(IDLE_MS / 6);
        expect((await queue.get({ noAck: true }))?.payload).toEqual({ id: n });
      }
      expect(await queue.get({ noAck: true })).toBeDefined();
    });

    it('keeps a consumed queue while the program works between two drainEvents() (touches need no running hub)', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('qexp');
      await declareQueue(conn, name, { queueArguments: { 'x-expires': EXPIRES_MS } });
      for (let id = 1; id <= 6; id++) await publish(conn, { id }, { exchange: '', routingKey: name });
      const consuming = await ctx.connection();
      const handled: unknown[] = [];
      const consumer = new Consumer(consuming, [new Queue(name)], {
        prefetchCount: 1,
        callbacks: [
          async (body, message) => {
            await message.ack();
            handled.push(body);
          },
        ],
      });
      await consumer.consume();
      await consuming.drainEvents({ timeout: 5 });
      // Work without the hub for twice x-expires: the consumer is still there, so is its queue.
      await sleep(IDLE_MS);
      while (handled.length < 6) await consuming.drainEvents({ timeout: 2 });
      expect(handled).toEqual([1, 2, 3, 4, 5, 6].map((id) => ({ id })));
      await consumer.cancel();
    });

    it('refuses an x-expires below 1000 ms or not a whole number of milliseconds', async () => {
      const conn = await ctx.connection();
      for (const value of [0, -5, 1.5, '10s', 999, 800]) {
        const error = await caught(() => declareQueue(conn, ctx.name('qexp'), { queueArguments: { 'x-expires': value } }));
        expect(error).toBeInstanceOf(ConfigurationError);
        expect((error as ConfigurationError).option).toBe('x-expires');
      }
    });
  });
}
