/**
 * Consuming: callbacks and onMessage, cancel / cancelByQueue / addQueue, several queues, the
 * async iterator (and what leaving it early does), drainEvents timeouts and aborts.
 */
import { describe, expect, it } from 'vitest';
import { AbortedError, Consumer, OperationTimeoutError, Queue, type Message } from 'kelp';
import {
  caught,
  collector,
  declareQueue,
  drainIdle,
  drainQueue,
  drainUntil,
  publish,
  sleep,
  type SuiteContext,
} from './context.js';

export function consumeTests(ctx: SuiteContext): void {
  describe('consumers', () => {
    it('calls every callback with the decoded body and the message, in publish order', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('cq');
      await declareQueue(conn, name);
      for (const n of [1, 2, 3]) await publish(conn, { n }, { exchange: '', routingKey: name });
      const first: unknown[] = [];
      const second: string[] = [];
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], {
        callbacks: [
          (body) => {
            first.push(body);
          },
          async (_body, message) => {
            second.push(message.deliveryTag);
            await message.ack();
          },
        ],
      });
      await consumer.consume();
      await drainUntil(conn, () => second.length >= 3);
      expect(first).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(new Set(second).size).toBe(3);
    });

    it("supports Kombu's drain loop when async callbacks work through a prefetched batch", async () => {
      const conn = await ctx.connection();
      const name = ctx.name('cq');
      await declareQueue(conn, name);
      for (const n of [1, 2, 3, 4, 5]) await publish(conn, n, { exchange: '', routingKey: name });
      const handled: unknown[] = [];
      const consumer = new Consumer(conn, [new Queue(name)], {
        prefetchCount: 5,
        callbacks: [
          async (body, message) => {
            await sleep(5);
            await message.ack();
            handled.push(body);
          },
        ],
      });
      await consumer.consume();
      // The whole batch may arrive in one delivery; each later drain must still return once a
      // backlog message has been handled, instead of waiting for a delivery that never comes.
      while (handled.length < 5) await conn.drainEvents({ timeout: 2 });
      expect(handled).toEqual([1, 2, 3, 4, 5]);
      await consumer.cancel();
    });

    it('awaits an async callback before handing it the next message', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('cq');
      await declareQueue(conn, name);
      for (const n of [1, 2]) await publish(conn, n, { exchange: '', routingKey: name });
      const events: string[] = [];
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], {
        noAck: true,
        callbacks: [
          async (body) => {
            events.push(`start ${String(body)}`);
            await sleep(50);
            events.push(`end ${String(body)}`);
          },
        ],
      });
      await consumer.consume();
      await drainUntil(conn, () => events.length >= 4);
      expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
    });

    it('reports a throwing callback to onError, keeps consuming, and leaves that message unacked', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('cq');
      await declareQueue(conn, name);
      for (const n of [1, 2]) await publish(conn, n, { exchange: '', routingKey: name });
      const errors: { error: unknown; message: Message | undefined }[] = [];
      const handled: unknown[] = [];
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], {
        callbacks: [
          async (body, message) => {
            if (body === 1) throw new Error('boom on 1');
            handled.push(body);
            await message.ack();
          },
        ],
        onError: (error, message) => errors.push({ error, message }),
      });
      await consumer.consume();
      await drainUntil(conn, () => handled.length >= 1 && errors.length >= 1);
      expect(handled).toEqual([2]);
      expect((errors[0]?.error as Error).message).toBe('boom on 1');
      expect(errors[0]?.message?.state).toBe('RECEIVED');
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      expect(await drainQueue(other)).toEqual([1]);
    });

    it('receives from every queue it consumes', async () => {
      const conn = await ctx.connection();
      const qa = ctx.name('cqa');
      const qb = ctx.name('cqb');
      await declareQueue(conn, qa);
      await declareQueue(conn, qb);
      await publish(conn, 'a1', { exchange: '', routingKey: qa });
      await publish(conn, 'b1', { exchange: '', routingKey: qb });
      await publish(conn, 'a2', { exchange: '', routingKey: qa });
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(qa), new Queue(qb)], {
        onMessage: got.onMessage,
        noAck: true,
      });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 3);
      const payloads = got.payloads() as string[];
      expect([...payloads].sort()).toEqual(['a1', 'a2', 'b1']);
      // FIFO holds per queue even when the consumer alternates between queues.
      expect(payloads.filter((p) => p.startsWith('a'))).toEqual(['a1', 'a2']);
    });

    it('stops delivering after cancel() and leaves later messages in the queue', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('cq');
      const queue = await declareQueue(conn, name);
      await publish(conn, 1, { exchange: '', routingKey: name });
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], { onMessage: got.onMessage, noAck: true });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 1);
      await consumer.cancel();
      await publish(conn, 2, { exchange: '', routingKey: name });
      await publish(conn, 3, { exchange: '', routingKey: name });
      await expect(conn.drainEvents({ timeout: ctx.idleSeconds })).rejects.toBeInstanceOf(OperationTimeoutError);
      expect(got.payloads()).toEqual([1]);
      expect(await drainQueue(queue)).toEqual([2, 3]);
    });

    it('stops only the named queue with cancelByQueue()', async () => {
      const conn = await ctx.connection();
      const qa = await declareQueue(conn, ctx.name('cqa'));
      const qb = await declareQueue(conn, ctx.name('cqb'));
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(qa.name), new Queue(qb.name)], {
        onMessage: got.onMessage,
        noAck: true,
      });
      await consumer.consume();
      await consumer.cancelByQueue(qa.name);
      await publish(conn, 'to-a', { exchange: '', routingKey: qa.name });
      await publish(conn, 'to-b', { exchange: '', routingKey: qb.name });
      await drainUntil(conn, () => got.messages.length >= 1);
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual(['to-b']);
      expect(await drainQueue(qa)).toEqual(['to-a']);
    });

    it('starts consuming a queue added with addQueue()', async () => {
      const conn = await ctx.connection();
      const qa = await declareQueue(conn, ctx.name('cqa'));
      const qbName = ctx.name('cqb');
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(qa.name)], { onMessage: got.onMessage, noAck: true });
      await consumer.consume();
      await consumer.addQueue(new Queue(qbName));
      await consumer.consume();
      await publish(conn, 'added', { exchange: '', routingKey: qbName });
      await drainUntil(conn, () => got.messages.length >= 1);
      // The second consume() must not consume the added queue twice.
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual(['added']);
      expect(got.messages[0]?.deliveryInfo.routingKey).toBe(qbName);
    });

    it('purges every queue of the consumer with purge() and returns the count', async () => {
      const conn = await ctx.connection();
      const qa = await declareQueue(conn, ctx.name('cqa'));
      const qb = await declareQueue(conn, ctx.name('cqb'));
      await publish(conn, 1, { exchange: '', routingKey: qa.name });
      await publish(conn, 2, { exchange: '', routingKey: qa.name });
      await publish(conn, 3, { exchange: '', routingKey: qb.name });
      const consumer = new Consumer(await conn.channel(), [new Queue(qa.name), new Queue(qb.name)], {
        onMessage: () => undefined,
      });
      expect(await consumer.purge()).toBe(3);
      expect(await drainQueue(qa)).toEqual([]);
      expect(await drainQueue(qb)).toEqual([]);
    });

    it('restores the unacked deliveries of a consumer to the head of the queue when its connection closes', async () => {
      const name = ctx.name('cq');
      const conn = await ctx.connection();
      await declareQueue(conn, name);
      for (const n of [1, 2, 3]) await publish(conn, n, { exchange: '', routingKey: name });
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], { onMessage: got.onMessage, prefetchCount: 2 });
      await consumer.consume();
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2]);
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      const rest: [unknown, boolean][] = [];
      for (let message = await other.get({ noAck: true }); message; message = await other.get({ noAck: true })) {
        rest.push([message.payload, message.redelivered]);
      }
      expect(rest).toEqual([
        [1, true],
        [2, true],
        [3, false],
      ]);
    });

    it('works through the connection factories conn.Producer and conn.Consumer', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('cq');
      await declareQueue(conn, name);
      await conn.Producer({ routingKey: name }).publish({ via: 'factory' });
      const got = collector();
      const consumer = conn.Consumer([new Queue(name)], { onMessage: got.onMessage, noAck: true });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 1);
      expect(got.payloads()).toEqual([{ via: 'factory' }]);
    });
  });

  describe('async iterator', () => {
    it('yields messages in publish order', { timeout: 15_000 }, async () => {
      const conn = await ctx.connection();
      const name = ctx.name('iq');
      await declareQueue(conn, name);
      for (const n of [1, 2, 3]) await publish(conn, n, { exchange: '', routingKey: name });
      // Built on the connection, so the iterator can drive it with drainEvents.
      const consumer = new Consumer(conn, [new Queue(name)], { prefetchCount: 10 });
      const payloads: unknown[] = [];
      for await (const message of consumer) {
        payloads.push(message.payload);
        await message.ack();
        if (payloads.length === 3) break;
      }
      expect(payloads).toEqual([1, 2, 3]);
    });

    it('restores the prefetched messages it did not yield when the loop is left early', { timeout: 15_000 }, async () => {
      const conn = await ctx.connection();
      const name = ctx.name('iq');
      await declareQueue(conn, name);
      for (const n of [1, 2, 3, 4]) await publish(conn, n, { exchange: '', routingKey: name });
      const consumer = new Consumer(conn, [new Queue(name)], { prefetchCount: 4 });
      let first: Message | undefined;
      for await (const message of consumer) {
        first = message;
        await message.ack();
        // Let the transport prefetch the other three into the iterator before leaving.
        await drainIdle(conn, ctx.idleSeconds);
        break;
      }
      expect(first?.payload).toBe(1);
      // Another connection sees the rest, in order, marked redelivered, with nothing left unacked behind.
      const other = await declareQueue(await ctx.connection(), name);
      const rest: [unknown, boolean][] = [];
      for (let message = await other.get({ noAck: true }); message; message = await other.get({ noAck: true })) {
        rest.push([message.payload, message.redelivered]);
      }
      expect(rest).toEqual([
        [2, true],
        [3, true],
        [4, true],
      ]);
    });
  });

  describe('drainEvents', () => {
    it('rejects with OperationTimeoutError when nothing arrives within the timeout', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('eq');
      await declareQueue(conn, name);
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], { onMessage: () => undefined });
      await consumer.consume();
      const started = performance.now();
      const error = await caught(() => conn.drainEvents({ timeout: 0.3 }));
      const elapsed = performance.now() - started;
      expect(error).toBeInstanceOf(OperationTimeoutError);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(3000);
    });

    it('times out with OperationTimeoutError when the connection has no consumer', async () => {
      const conn = await ctx.connection();
      await conn.connect();
      expect(await caught(() => conn.drainEvents({ timeout: 0.2 }))).toBeInstanceOf(OperationTimeoutError);
    });

    it('resolves as soon as a message is delivered', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('eq');
      await declareQueue(conn, name);
      await publish(conn, 'ready', { exchange: '', routingKey: name });
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], { onMessage: got.onMessage, noAck: true });
      await consumer.consume();
      const started = performance.now();
      await conn.drainEvents({ timeout: 10 });
      expect(performance.now() - started).toBeLessThan(5000);
      expect(got.payloads()).toEqual(['ready']);
    });

    it('rejects with AbortedError when its signal is aborted while waiting', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('eq');
      await declareQueue(conn, name);
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], { onMessage: () => undefined });
      await consumer.consume();
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('stop waiting')), 100);
      const started = performance.now();
      const error = await caught(() => conn.drainEvents({ timeout: 10, signal: controller.signal }));
      expect(error).toBeInstanceOf(AbortedError);
      expect(performance.now() - started).toBeLessThan(5000);
    });
  });
}
