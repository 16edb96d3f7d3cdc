/**
 * Synchronous access: `Queue.get` (basic_get) with and without noAck, purge counts, and the
 * message count a declaration reports.
 */
import { describe, expect, it } from 'vitest';
import { declareQueue, drainQueue, publish, type SuiteContext } from './context.js';

export function getPurgeTests(ctx: SuiteContext): void {
  describe('get', () => {
    it('returns undefined from an empty queue', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('gq'));
      expect(await queue.get()).toBeUndefined();
      expect(await queue.get({ noAck: true })).toBeUndefined();
    });

    it('returns messages first in, first out', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('gq'));
      for (const n of [1, 2, 3, 4]) await publish(conn, n, { exchange: '', routingKey: queue.name });
      expect(await drainQueue(queue)).toEqual([1, 2, 3, 4]);
    });

    it('removes a noAck message at once, so closing the connection does not bring it back', async () => {
      const first = await ctx.connection();
      const name = ctx.name('gq');
      const queue = await declareQueue(first, name);
      await publish(first, 'gone', { exchange: '', routingKey: name });
      const message = await queue.get({ noAck: true });
      expect(message?.payload).toBe('gone');
      await message?.ack(); // a no-op for noAck messages, never an error
      await first.close();
      const other = await declareQueue(await ctx.connection(), name);
      expect(await other.get({ noAck: true })).toBeUndefined();
    });

    it('keeps a message taken without noAck until it is acked', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('gq');
      const queue = await declareQueue(conn, name);
      await publish(conn, 'held', { exchange: '', routingKey: name });
      const message = await queue.get();
      expect(message?.payload).toBe('held');
      expect(message?.state).toBe('RECEIVED');
      await message?.ack();
      expect(message?.state).toBe('ACK');
      expect(await queue.get()).toBeUndefined();
    });
  });

  describe('purge and counts', () => {
    it('returns the number of messages a purge removed and leaves the queue empty', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'));
      for (const n of [1, 2, 3, 4, 5]) await publish(conn, n, { exchange: '', routingKey: queue.name });
      expect(await queue.purge()).toBe(5);
      expect(await queue.get()).toBeUndefined();
    });

    it('returns 0 when purging an empty queue', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'));
      expect(await queue.purge()).toBe(0);
    });

    it('purges messages of every priority', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'), { maxPriority: 9 });
      for (const priority of [0, 4, 9]) {
        await publish(conn, priority, { exchange: '', routingKey: queue.name, priority });
      }
      expect(await queue.purge()).toBe(3);
      expect(await queue.get()).toBeUndefined();
    });

    it('does not purge a message being processed: it comes back when its connection closes', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('pq');
      const queue = await declareQueue(conn, name);
      await publish(conn, 'working', { exchange: '', routingKey: name });
      await publish(conn, 'waiting', { exchange: '', routingKey: name });
      const taken = await queue.get();
      expect(await queue.purge()).toBe(1);
      expect(taken?.payload).toBe('working');
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      expect(await drainQueue(other)).toEqual(['working']);
    });

    it('reports the number of waiting messages in a passive declaration', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'), { maxPriority: 9 });
      await publish(conn, 'a', { exchange: '', routingKey: queue.name });
      await publish(conn, 'b', { exchange: '', routingKey: queue.name, priority: 9 });
      await publish(conn, 'c', { exchange: '', routingKey: queue.name });
      const channel = await conn.defaultChannel();
      const result = await channel.queueDeclare(queue.name, { passive: true });
      expect(result.queue).toBe(queue.name);
      expect(result.messageCount).toBe(3);
    });
  });
}
