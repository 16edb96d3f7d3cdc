/**
 * The helpers above Producer/Consumer, run on the transport under test: ConsumerWorker (Kombu's
 * ConsumerMixin), ConnectionPool / ProducerPool limits, maybeDeclare's cache and Connection.ensure.
 */
import { describe, expect, it } from 'vitest';
import {
  ConnectionPool,
  Consumer,
  ConsumerWorker,
  LimitExceeded,
  ProducerPool,
  Queue,
  maybeDeclare,
} from 'kelp';
import { caught, declareQueue, drainQueue, publish, sleep, type SuiteContext } from './context.js';

export function highLevelTests(ctx: SuiteContext): void {
  describe('ConsumerWorker', () => {
    it('consumes with the consumers getConsumers builds until stop(), then reports stopped', { timeout: 15_000 }, async () => {
      const name = ctx.name('wq');
      const feeder = await ctx.connection();
      await declareQueue(feeder, name);
      const received: unknown[] = [];
      const conn = await ctx.connection();
      const worker = new ConsumerWorker(conn, {
        safetyInterval: 0.2,
        getConsumers: (channel) => [
          new Consumer(channel, [new Queue(name)], {
            onMessage: async (message) => {
              received.push(message.payload);
              await message.ack();
            },
          }),
        ],
      });
      const running = worker.run();
      for (const n of [1, 2, 3]) await publish(feeder, n, { exchange: '', routingKey: name });
      const deadline = Date.now() + 10_000;
      while (received.length < 3 && Date.now() < deadline) await sleep(20);
      await worker.stop();
      await running;
      expect(received).toEqual([1, 2, 3]);
      expect(worker.state).toBe('stopped');
      // Stopped means stopped: a later message stays in the queue.
      await publish(feeder, 4, { exchange: '', routingKey: name });
      await sleep(300);
      expect(received).toEqual([1, 2, 3]);
      expect(await drainQueue(await declareQueue(feeder, name))).toEqual([4]);
    });
  });

  describe('pools', () => {
    it('hands out at most `limit` producers and refuses a non-blocking acquire beyond it with LimitExceeded', async () => {
      const url = await ctx.options.url();
      const connections = new ConnectionPool(url, {
        limit: 1,
        connectionOptions: { transportOptions: { ...ctx.options.transportOptions } },
      });
      const producers = new ProducerPool(connections);
      try {
        const name = ctx.name('pp');
        await declareQueue(await ctx.connection(), name);
        const producer = await producers.acquire();
        await producer.publish('pooled', { exchange: '', routingKey: name });
        expect(await caught(() => producers.acquire({ block: false }))).toBeInstanceOf(LimitExceeded);
        producers.release(producer);
        const again = await producers.acquire({ block: false });
        expect(again).toBe(producer);
        producers.release(again);
        const queue = await declareQueue(await ctx.connection(), name);
        expect(await drainQueue(queue)).toEqual(['pooled']);
      } finally {
        await connections.close();
      }
    });

    it('gives up an acquire on an exhausted pool after its timeout with LimitExceeded', async () => {
      const connections = new ConnectionPool(await ctx.options.url(), { limit: 1 });
      try {
        const held = await connections.acquire();
        const started = performance.now();
        expect(await caught(() => connections.acquire({ timeout: 0.2 }))).toBeInstanceOf(LimitExceeded);
        expect(performance.now() - started).toBeGreaterThanOrEqual(150);
        connections.release(held);
      } finally {
        await connections.close();
      }
    });
  });

  describe('declaration helpers', () => {
    it('declares an entity once per channel with maybeDeclare and caches it afterwards', async () => {
      const conn = await ctx.connection();
      const channel = await conn.channel();
      const queue = new Queue(ctx.name('md'));
      expect(await maybeDeclare(queue, channel)).toBe(true);
      expect(await maybeDeclare(queue, channel)).toBe(false);
      await publish(conn, 'declared', { exchange: '', routingKey: queue.name });
      const result = await channel.queueDeclare(queue.name, { passive: true });
      expect(result.messageCount).toBe(1);
    });

    it('runs the function given to Connection.ensure with a channel and returns its result', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('en');
      const result = await conn.ensure(async (channel) => {
        await channel.queueDeclare(name);
        await publish(conn, 'x', { exchange: '', routingKey: name });
        return channel.queueDeclare(name, { passive: true });
      });
      expect(result).toEqual({ queue: name, messageCount: 1, consumerCount: expect.any(Number) });
    });
  });
}
