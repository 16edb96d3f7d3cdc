/**
 * SimpleQueue (Kombu's `kombu.simple`): put, get with a timeout, getNowait, qsize and clear.
 */
import { describe, expect, it } from 'vitest';
import { OperationTimeoutError, SimpleBuffer, SimpleQueue } from 'kelp';
import { caught, sleep, type SuiteContext } from './context.js';

export function simpleQueueTests(ctx: SuiteContext): void {
  async function simpleQueue(name = ctx.name('sq')): Promise<SimpleQueue> {
    return new SimpleQueue(await ctx.connection(), name);
  }

  describe('SimpleQueue', () => {
    it('gets what was put, in order, as decoded payloads', async () => {
      const queue = await simpleQueue();
      await queue.put({ n: 1 });
      await queue.put({ n: 2 });
      const first = await queue.get({ timeout: 5 });
      await first.ack();
      const second = await queue.get({ timeout: 5 });
      await second.ack();
      expect([first.payload, second.payload]).toEqual([{ n: 1 }, { n: 2 }]);
    });

    it('returns a waiting message from getNowait', async () => {
      const queue = await simpleQueue();
      await queue.put('now');
      const message = await queue.getNowait();
      expect(message?.payload).toBe('now');
      await message?.ack();
    });

    it('returns undefined from getNowait on an empty queue, without waiting', async () => {
      const queue = await simpleQueue();
      const started = performance.now();
      expect(await queue.getNowait()).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(1000);
    });

    it('counts waiting messages with qsize', async () => {
      const queue = await simpleQueue();
      expect(await queue.qsize()).toBe(0);
      for (const n of [1, 2, 3]) await queue.put(n);
      expect(await queue.qsize()).toBe(3);
    });

    it('removes every waiting message with clear and returns how many', async () => {
      const queue = await simpleQueue();
      for (const n of [1, 2, 3, 4]) await queue.put(n);
      expect(await queue.clear()).toBe(4);
      expect(await queue.qsize()).toBe(0);
    });

    it('rejects get with OperationTimeoutError when the queue stays empty past the timeout', async () => {
      const queue = await simpleQueue();
      const started = performance.now();
      const error = await caught(() => queue.get({ timeout: 0.3 }));
      expect(error).toBeInstanceOf(OperationTimeoutError);
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    });

    it('hands a message put by another connection to a get that is already waiting', async () => {
      const name = ctx.name('sq');
      const reader = await simpleQueue(name);
      const writer = await simpleQueue(name);
      const pending = reader.get({ timeout: 5 });
      const put = sleep(100).then(() => writer.put('late arrival'));
      const [message] = await Promise.all([pending, put]);
      expect(message.payload).toBe('late arrival');
      await message.ack();
    });

    it('SimpleBuffer delivers transient messages that need no ack', async () => {
      const buffer = new SimpleBuffer(await ctx.connection(), ctx.name('sb'));
      await buffer.put({ transient: true });
      const message = await buffer.get({ timeout: 5 });
      expect(message.payload).toEqual({ transient: true });
      expect(message.properties.deliveryMode).toBe(1);
      await message.ack();
      // No ack was owed, so nothing changed and nothing waits to be restored.
      expect(message.state).toBe('RECEIVED');
      expect(await buffer.qsize()).toBe(0);
    });
  });
}
