/**
 * Declarations (docs/wire-format.md#exchange-state, #declarations): passive declares, equivalence
 * checks, generated queue names, what Consumer/Producer declare for the user, delete({ ifEmpty }),
 * and closed channels.
 */
import { describe, expect, it } from 'vitest';
import {
  ChannelClosedError,
  Consumer,
  Exchange,
  NotEquivalentError,
  NotFoundError,
  Producer,
  Queue,
} from 'kelp';
import { caught, declareExchange, declareQueue, drainQueue, publish, type SuiteContext } from './context.js';

export function declarationTests(ctx: SuiteContext): void {
  describe('declarations', () => {
    it('refuses a passive declare of an exchange never declared with NotFoundError (404)', async () => {
      const conn = await ctx.connection();
      const exchange = new Exchange(ctx.name('nx'), { type: 'direct' }).bind(await conn.defaultChannel());
      const error = await caught(() => exchange.declare({ passive: true }));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as NotFoundError).code).toBe(404);
    });

    it('refuses to redeclare an exchange with another type with NotEquivalentError (406)', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('ex');
      await declareExchange(conn, name, 'direct');
      const error = await caught(() => declareExchange(conn, name, 'topic'));
      expect(error).toBeInstanceOf(NotEquivalentError);
      expect((error as NotEquivalentError).code).toBe(406);
    });

    it('refuses a passive declare of a queue that holds nothing and was never declared with NotFoundError', async () => {
      const conn = await ctx.connection();
      const channel = await conn.defaultChannel();
      const error = await caught(() => channel.queueDeclare(ctx.name('missing'), { passive: true }));
      expect(error).toBeInstanceOf(NotFoundError);
    });

    it('gives a queue declared without a name a generated amq.gen- name', async () => {
      const conn = await ctx.connection();
      const name = await new Queue('').bind(await conn.defaultChannel()).declare();
      expect(name).toMatch(/^amq\.gen-[0-9a-f-]{36}$/);
    });

    it('declares the queue and binding of a Consumer on consume() (autoDeclare)', async () => {
      const conn = await ctx.connection();
      const exchange = new Exchange(ctx.name('ax'), { type: 'direct' });
      const name = ctx.name('aq');
      const consumer = new Consumer(await conn.channel(), [new Queue(name, { exchange, routingKey: 'auto' })], {
        onMessage: () => undefined,
      });
      await consumer.consume();
      await consumer.cancel();
      const result = await publish(conn, 'declared', { exchange, routingKey: 'auto' });
      expect(result.queues).toEqual([name]);
    });

    it('declares the entities listed in publish({ declare }) before routing', async () => {
      const conn = await ctx.connection();
      const exchange = new Exchange(ctx.name('ax'), { type: 'topic' });
      const queue = new Queue(ctx.name('aq'), { exchange, routingKey: 'news.#' });
      const result = await publish(conn, 'hot', { exchange, routingKey: 'news.today', declare: [queue] });
      expect(result.status).toBe('routed');
      expect(result.queues).toEqual([queue.name]);
    });

    it('publishes to the default exchange and routing key given to the Producer', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('ax'), 'direct');
      const queue = await declareQueue(conn, ctx.name('aq'), { exchange, routingKey: 'preset' });
      const producer = new Producer(await conn.defaultChannel(), { exchange, routingKey: 'preset' });
      const result = await producer.publish({ defaults: true });
      expect(result.queues).toEqual([queue.name]);
      expect(await drainQueue(queue)).toEqual([{ defaults: true }]);
    });

    it('leaves a queue that holds messages in place on delete({ ifEmpty: true })', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('aq'));
      await publish(conn, 'stay', { exchange: '', routingKey: queue.name });
      await queue.delete({ ifEmpty: true });
      expect(await drainQueue(queue)).toEqual(['stay']);
    });

    it('ignores basicCancel of a consumer tag it does not know', async () => {
      const conn = await ctx.connection();
      const channel = await conn.channel();
      await expect(channel.basicCancel('no-such-consumer-tag')).resolves.toBeUndefined();
      expect(channel.state).toBe('open');
    });

    it('refuses operations on a closed channel with ChannelClosedError', async () => {
      const conn = await ctx.connection();
      const channel = await conn.channel();
      const queue = new Queue(ctx.name('aq')).bind(channel);
      await queue.declare();
      await channel.close();
      expect(channel.state).toBe('closed');
      expect(await caught(() => queue.get())).toBeInstanceOf(ChannelClosedError);
    });
  });
}
