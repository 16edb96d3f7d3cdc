/**
 * Message priority (docs/wire-format.md#priorities): Kombu's inverted order (0 is served first),
 * priority steps [0, 3, 6, 9] with FIFO inside a step, for `get` and for consumers alike.
 */
import { describe, expect, it } from 'vitest';
import { Consumer, Queue } from 'kelp';
import { collector, declareQueue, drainQueue, drainUntil, publish, type SuiteContext } from './context.js';

export function priorityTests(ctx: SuiteContext): void {
  describe('priorities', () => {
    it('serves priority 0 before priority 9 whatever the publish order', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'), { maxPriority: 9 });
      await publish(conn, 'p9', { exchange: '', routingKey: queue.name, priority: 9 });
      await publish(conn, 'p0', { exchange: '', routingKey: queue.name, priority: 0 });
      expect(await drainQueue(queue)).toEqual(['p0', 'p9']);
    });

    it('fetches priorities published as 0, 5, 9, 2 in the order 0, 2, 5, 9', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'), { maxPriority: 9 });
      for (const priority of [0, 5, 9, 2]) {
        await publish(conn, priority, { exchange: '', routingKey: queue.name, priority });
      }
      expect(await drainQueue(queue)).toEqual([0, 2, 5, 9]);
    });

    it('keeps publish order among messages of the same priority', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'), { maxPriority: 9 });
      for (const n of [1, 2, 3, 4, 5]) {
        await publish(conn, n, { exchange: '', routingKey: queue.name, priority: 6 });
      }
      expect(await drainQueue(queue)).toEqual([1, 2, 3, 4, 5]);
    });

    it('keeps publish order among priorities of the same step (2, 1, 0 all land in step 0)', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'), { maxPriority: 9 });
      for (const priority of [2, 1, 0]) {
        await publish(conn, `p${priority}`, { exchange: '', routingKey: queue.name, priority });
      }
      expect(await drainQueue(queue)).toEqual(['p2', 'p1', 'p0']);
    });

    it('serves a message published without a priority as priority 0', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'), { maxPriority: 9 });
      await publish(conn, 'p3', { exchange: '', routingKey: queue.name, priority: 3 });
      await publish(conn, 'none', { exchange: '', routingKey: queue.name });
      expect(await drainQueue(queue)).toEqual(['none', 'p3']);
    });

    it('hands the published priority to the consumer in properties.priority', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('pq'), { maxPriority: 9 });
      await publish(conn, 'x', { exchange: '', routingKey: queue.name, priority: 7 });
      const message = await queue.get({ noAck: true });
      expect(message?.properties.priority).toBe(7);
    });

    it('delivers to a consumer in priority order too', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('pq');
      await declareQueue(conn, name, { maxPriority: 9 });
      for (const priority of [9, 6, 3, 0]) {
        await publish(conn, priority, { exchange: '', routingKey: name, priority });
      }
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name, { maxPriority: 9 })], {
        onMessage: async (message) => {
          got.onMessage(message);
          await message.ack();
        },
        prefetchCount: 1,
      });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 4);
      expect(got.payloads()).toEqual([0, 3, 6, 9]);
    });
  });
}
