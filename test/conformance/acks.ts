/**
 * Acknowledgement (docs/wire-format.md#ack-and-reject, docs/kombu-compatibility.md#message-states):
 * ack removes, reject drops or requeues to the back, requeue(), the message state machine, restore
 * of unacked messages to the head on close and recover.
 */
import { describe, expect, it } from 'vitest';
import { Consumer, MessageStateError, Queue, type Message } from 'kelp';
import { caught, collector, declareQueue, drainQueue, drainUntil, publish, type SuiteContext } from './context.js';

async function publishAll(ctx: SuiteContext, bodies: readonly unknown[]): Promise<{ queue: Queue; name: string }> {
  const conn = await ctx.connection();
  const name = ctx.name('aq');
  const queue = await declareQueue(conn, name);
  for (const body of bodies) await publish(conn, body, { exchange: '', routingKey: name });
  return { queue, name };
}

/** `get` without noAck: the message stays unacked until acked, rejected or restored. */
async function getUnacked(queue: Queue): Promise<Message> {
  const message = await queue.get();
  if (!message) throw new Error(`queue ${queue.name} is empty`);
  return message;
}

export function ackTests(ctx: SuiteContext): void {
  describe('acknowledgement', () => {
    it('removes an acked message for good: it is not restored when the connection closes', async () => {
      const { name } = await publishAll(ctx, ['m1']);
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, name);
      const message = await getUnacked(queue);
      await message.ack();
      expect(message.state).toBe('ACK');
      expect(message.acknowledged).toBe(true);
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      expect(await drainQueue(other)).toEqual([]);
    });

    it('hides an unacked message from other gets until it is settled', async () => {
      const { queue } = await publishAll(ctx, ['only']);
      const message = await getUnacked(queue);
      expect(message.payload).toBe('only');
      expect(await queue.get()).toBeUndefined();
      const other = await declareQueue(await ctx.connection(), queue.name);
      expect(await other.get()).toBeUndefined();
    });

    it('throws MessageStateError on a second ack', async () => {
      const { queue } = await publishAll(ctx, ['m']);
      const message = await getUnacked(queue);
      await message.ack();
      const error = await caught(() => message.ack());
      expect(error).toBeInstanceOf(MessageStateError);
      expect((error as Error).message).toContain('ACK');
    });

    it('throws MessageStateError naming REJECTED when a rejected message is acked', async () => {
      const { queue } = await publishAll(ctx, ['m']);
      const message = await getUnacked(queue);
      await message.reject();
      const error = await caught(() => message.ack());
      expect(error).toBeInstanceOf(MessageStateError);
      expect((error as Error).message).toContain('REJECTED');
    });

    it('drops a message rejected without requeue, even after the connection closes', async () => {
      const { name } = await publishAll(ctx, ['drop', 'keep']);
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, name);
      const message = await getUnacked(queue);
      await message.reject({ requeue: false });
      expect(message.state).toBe('REJECTED');
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      expect(await drainQueue(other)).toEqual(['keep']);
    });

    it('redelivers a message rejected with requeue, marked redelivered', async () => {
      const { queue } = await publishAll(ctx, ['again']);
      const first = await getUnacked(queue);
      expect(first.redelivered).toBe(false);
      await first.reject({ requeue: true });
      const second = await getUnacked(queue);
      expect(second.payload).toBe('again');
      expect(second.redelivered).toBe(true);
      expect(second.deliveryInfo.redelivered).toBe(true);
      await second.ack();
    });

    it('puts a message rejected with requeue at the back of its queue', async () => {
      const { queue } = await publishAll(ctx, ['m1', 'm2', 'm3']);
      const first = await getUnacked(queue);
      await first.reject({ requeue: true });
      expect(await drainQueue(queue)).toEqual(['m2', 'm3', 'm1']);
    });

    it('keeps the delivery tag of a message across redelivery', async () => {
      const { queue } = await publishAll(ctx, ['tagged']);
      const first = await getUnacked(queue);
      await first.requeue();
      const second = await getUnacked(queue);
      expect(second.deliveryTag).toBe(first.deliveryTag);
      await second.ack();
    });

    it('requeue() sets state REQUEUED and puts the message at the back, marked redelivered', async () => {
      const { queue } = await publishAll(ctx, ['r1', 'r2']);
      const first = await getUnacked(queue);
      await first.requeue();
      expect(first.state).toBe('REQUEUED');
      const next = await getUnacked(queue);
      const last = await getUnacked(queue);
      expect([next.payload, last.payload]).toEqual(['r2', 'r1']);
      expect(next.redelivered).toBe(false);
      expect(last.redelivered).toBe(true);
      await next.ack();
      await last.ack();
    });

    it('throws MessageStateError naming REQUEUED on a second requeue', async () => {
      const { queue } = await publishAll(ctx, ['m']);
      const message = await getUnacked(queue);
      await message.requeue();
      const error = await caught(() => message.requeue());
      expect(error).toBeInstanceOf(MessageStateError);
      expect((error as Error).message).toContain('REQUEUED');
    });

    it('restores unacked messages to the head of their queue when the connection closes', async () => {
      const { name } = await publishAll(ctx, ['m1', 'm2', 'm3']);
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, name);
      const taken = await getUnacked(queue);
      expect(taken.payload).toBe('m1');
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      const restored = await getUnacked(other);
      expect(restored.payload).toBe('m1');
      expect(restored.redelivered).toBe(true);
      expect(restored.deliveryTag).toBe(taken.deliveryTag);
      await restored.ack();
      expect(await drainQueue(other)).toEqual(['m2', 'm3']);
    });

    it('restores the unacked messages of a closed channel while its connection stays open', async () => {
      const { name } = await publishAll(ctx, ['c1', 'c2']);
      const conn = await ctx.connection();
      const channel = await conn.channel();
      const onChannel = new Queue(name).bind(channel);
      const taken = await getUnacked(onChannel);
      expect(taken.payload).toBe('c1');
      await channel.close();
      const onDefault = await declareQueue(conn, name);
      const restored = await getUnacked(onDefault);
      expect(restored.payload).toBe('c1');
      expect(restored.redelivered).toBe(true);
      await restored.ack();
    });

    it('restores several unacked messages on close in their original order', async () => {
      const { name } = await publishAll(ctx, ['m1', 'm2', 'm3', 'm4']);
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, name);
      await getUnacked(queue);
      await getUnacked(queue);
      await getUnacked(queue);
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      expect(await drainQueue(other)).toEqual(['m1', 'm2', 'm3', 'm4']);
    });

    it('redelivers unacked consumer messages after recover(), marked redelivered', async () => {
      const { name } = await publishAll(ctx, ['rec']);
      const conn = await ctx.connection();
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], {
        onMessage: got.onMessage,
        prefetchCount: 1,
      });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 1);
      expect(got.messages[0]?.redelivered).toBe(false);
      await consumer.recover();
      await drainUntil(conn, () => got.messages.length >= 2);
      expect(got.payloads()).toEqual(['rec', 'rec']);
      expect(got.messages[1]?.redelivered).toBe(true);
      expect(got.messages[1]?.deliveryTag).toBe(got.messages[0]?.deliveryTag);
      await got.messages[1]?.ack();
    });

    it('redelivers a message the consumer requeued to that consumer', async () => {
      const { name } = await publishAll(ctx, ['bounce']);
      const conn = await ctx.connection();
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], {
        onMessage: async (message) => {
          got.onMessage(message);
          if (got.messages.length === 1) await message.requeue();
          else await message.ack();
        },
      });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 2);
      expect(got.payloads()).toEqual(['bounce', 'bounce']);
      expect(got.messages.map((m) => m.redelivered)).toEqual([false, true]);
      expect(got.messages.map((m) => m.state)).toEqual(['REQUEUED', 'ACK']);
    });
  });
}
