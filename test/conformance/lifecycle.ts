/**
 * Lifecycles: auto-delete queues go away with their last consumer, consumer tags and the queue
 * name reach deliveryInfo, fanout consumers added while another one is listening still receive,
 * a requeued message keeps its priority, and connections close idempotently (also via
 * `await using`).
 */
import { describe, expect, it } from 'vitest';
import { Consumer, OperationTimeoutError, Queue } from 'kelp';
import {
  collector,
  declareExchange,
  declareQueue,
  drainQueue,
  drainUntil,
  publish,
  type SuiteContext,
} from './context.js';

export function lifecycleTests(ctx: SuiteContext): void {
  describe('lifecycle', () => {
    it('deletes an autoDelete queue when its last consumer is cancelled', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('lx'), 'direct');
      const queue = new Queue(ctx.name('lq'), { exchange, routingKey: 'tmp', autoDelete: true });
      const consumer = new Consumer(await conn.channel(), [queue], { onMessage: () => undefined });
      await consumer.consume();
      expect((await publish(conn, 'while consuming', { exchange, routingKey: 'tmp' })).status).toBe('routed');
      await consumer.cancel();
      const after = await publish(conn, 'after cancel', { exchange, routingKey: 'tmp' });
      expect(after.status).toBe('unroutable');
    });

    it('puts the consumer tag prefix and the queue name in deliveryInfo', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('lq');
      await declareQueue(conn, name);
      await publish(conn, 'tagged', { exchange: '', routingKey: name });
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], {
        onMessage: got.onMessage,
        noAck: true,
        tag: 'worker-7-',
      });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 1);
      expect(got.messages[0]?.deliveryInfo.consumerTag).toMatch(/^worker-7-/);
      expect(got.messages[0]?.deliveryInfo.queue).toBe(name);
    });

    it('delivers fanout messages to a consumer added while another fanout consumer is already listening', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('lfx'), 'fanout');
      const first = collector();
      const late = collector();
      const early = new Consumer(await conn.channel(), [new Queue(ctx.name('lfa'), { exchange, routingKey: '' })], {
        onMessage: first.onMessage,
        noAck: true,
      });
      await early.consume();
      await expect(conn.drainEvents({ timeout: ctx.idleSeconds })).rejects.toBeInstanceOf(OperationTimeoutError);
      const added = new Consumer(await conn.channel(), [new Queue(ctx.name('lfb'), { exchange, routingKey: '' })], {
        onMessage: late.onMessage,
        noAck: true,
      });
      await added.consume();
      await expect(conn.drainEvents({ timeout: ctx.idleSeconds })).rejects.toBeInstanceOf(OperationTimeoutError);
      await publish(conn, 'to all', { exchange, routingKey: '' });
      await drainUntil(conn, () => first.messages.length >= 1 && late.messages.length >= 1);
      expect(first.payloads()).toEqual(['to all']);
      expect(late.payloads()).toEqual(['to all']);
    });

    it('keeps the priority of a requeued message: it still comes after more urgent ones', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('lq'), { maxPriority: 9 });
      await publish(conn, 'p9', { exchange: '', routingKey: queue.name, priority: 9 });
      const taken = await queue.get();
      expect(taken?.payload).toBe('p9');
      await publish(conn, 'p0', { exchange: '', routingKey: queue.name, priority: 0 });
      await taken?.requeue();
      expect(await drainQueue(queue)).toEqual(['p0', 'p9']);
    });

    it('closes a connection idempotently and reports it closed', async () => {
      const conn = await ctx.connection();
      await conn.connect();
      expect(conn.state).toBe('connected');
      await conn.close();
      await conn.close();
      expect(conn.state).toBe('closed');
    });

    it('restores unacked messages when a connection is disposed with await using', async () => {
      const name = ctx.name('lq');
      const feeder = await ctx.connection();
      await declareQueue(feeder, name);
      await publish(feeder, 'disposed', { exchange: '', routingKey: name });
      {
        await using scoped = await ctx.connection();
        const queue = await declareQueue(scoped, name);
        expect((await queue.get())?.payload).toBe('disposed');
      }
      const again = await declareQueue(await ctx.connection(), name);
      const message = await again.get({ noAck: true });
      expect(message?.payload).toBe('disposed');
      expect(message?.redelivered).toBe(true);
    });
  });
}
