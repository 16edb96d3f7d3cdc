/**
 * Exchange routing (docs/wire-format.md#routing): direct, topic with Kombu's non-AMQP semantics,
 * fanout, the anonymous exchange, several bindings, unroutable messages and the dead-letter queue.
 */
import { describe, expect, it } from 'vitest';
import { Binding, Consumer, OperationTimeoutError, Queue } from 'kelp';
import {
  collector,
  declareExchange,
  declareQueue,
  drainQueue,
  drainUntil,
  publish,
  type SuiteContext,
} from './context.js';

/**
 * Declares a topic exchange with one queue per binding key, publishes one message with
 * `routingKey`, and returns which binding keys received it.
 */
async function topicMatches(ctx: SuiteContext, bindingKeys: readonly string[], routingKey: string): Promise<string[]> {
  const conn = await ctx.connection();
  const exchange = await declareExchange(conn, ctx.name('tx'), 'topic');
  const queues = new Map<string, Queue>();
  for (const key of bindingKeys) {
    queues.set(key, await declareQueue(conn, ctx.name('tq'), { exchange, routingKey: key }));
  }
  await publish(conn, { rk: routingKey }, { exchange, routingKey });
  const matched: string[] = [];
  for (const [key, queue] of queues) {
    const got = await drainQueue(queue);
    if (got.length > 0) {
      expect(got).toEqual([{ rk: routingKey }]);
      matched.push(key);
    }
  }
  return matched;
}

export function routingTests(ctx: SuiteContext): void {
  describe('direct exchange', () => {
    it('routes a message to the queue bound with its routing key', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('dx'), 'direct');
      const queue = await declareQueue(conn, ctx.name('dq'), { exchange, routingKey: 'orders' });
      const result = await publish(conn, { id: 1 }, { exchange, routingKey: 'orders' });
      expect(result.status).toBe('routed');
      expect(result.queues).toEqual([queue.name]);
      expect(await drainQueue(queue)).toEqual([{ id: 1 }]);
    });

    it('does not route to a queue bound with a different routing key', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('dx'), 'direct');
      const orders = await declareQueue(conn, ctx.name('dq'), { exchange, routingKey: 'orders' });
      const invoices = await declareQueue(conn, ctx.name('dq'), { exchange, routingKey: 'invoices' });
      await publish(conn, { id: 2 }, { exchange, routingKey: 'invoices' });
      expect(await drainQueue(orders)).toEqual([]);
      expect(await drainQueue(invoices)).toEqual([{ id: 2 }]);
    });

    it('gives each of two queues bound with the same key its own copy', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('dx'), 'direct');
      const a = await declareQueue(conn, ctx.name('dqa'), { exchange, routingKey: 'k' });
      const b = await declareQueue(conn, ctx.name('dqb'), { exchange, routingKey: 'k' });
      const result = await publish(conn, 'copy', { exchange, routingKey: 'k', serializer: 'json' });
      expect([...result.queues].sort()).toEqual([a.name, b.name].sort());
      expect(await drainQueue(a)).toEqual(['copy']);
      expect(await drainQueue(b)).toEqual(['copy']);
    });

    it('compares routing keys literally, so wildcards in a direct binding match nothing else', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('dx'), 'direct');
      const queue = await declareQueue(conn, ctx.name('dq'), { exchange, routingKey: 'a.*' });
      const result = await publish(conn, 1, { exchange, routingKey: 'a.b' });
      expect(result.status).toBe('unroutable');
      expect(await drainQueue(queue)).toEqual([]);
    });

    it('routes non-ASCII routing keys and queue names exactly', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('dx-é'), 'direct');
      const queue = await declareQueue(conn, ctx.name('очередь-日本'), { exchange, routingKey: 'заказ.東京' });
      const result = await publish(conn, { city: '東京' }, { exchange, routingKey: 'заказ.東京' });
      expect(result.queues).toEqual([queue.name]);
      expect(await drainQueue(queue)).toEqual([{ city: '東京' }]);
    });

    it('records the exchange and routing key of the publish in deliveryInfo', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('dx'), 'direct');
      const queue = await declareQueue(conn, ctx.name('dq'), { exchange, routingKey: 'rk1' });
      await publish(conn, 'x', { exchange, routingKey: 'rk1' });
      const message = await queue.get({ noAck: true });
      expect(message?.deliveryInfo.exchange).toBe(exchange.name);
      expect(message?.deliveryInfo.routingKey).toBe('rk1');
      expect(message?.deliveryInfo.redelivered).toBe(false);
    });
  });

  describe('bindings', () => {
    it('delivers to a queue with several bindings for each of its keys, in publish order', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('bx'), 'direct');
      const queue = await declareQueue(conn, ctx.name('bq'), {
        bindings: [new Binding(exchange, 'red'), new Binding(exchange, 'blue')],
      });
      await publish(conn, 'r1', { exchange, routingKey: 'red' });
      await publish(conn, 'b1', { exchange, routingKey: 'blue' });
      const green = await publish(conn, 'g1', { exchange, routingKey: 'green' });
      await publish(conn, 'r2', { exchange, routingKey: 'red' });
      expect(green.status).toBe('unroutable');
      expect(await drainQueue(queue)).toEqual(['r1', 'b1', 'r2']);
    });

    it('delivers one copy when the same binding is declared twice', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('bx'), 'direct');
      const queue = await declareQueue(conn, ctx.name('bq'), { exchange, routingKey: 'dup' });
      await queue.bindTo(exchange, 'dup');
      await publish(conn, 'once', { exchange, routingKey: 'dup' });
      expect(await drainQueue(queue)).toEqual(['once']);
    });

    it('routes through a binding added later with bindTo', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('bx'), 'direct');
      const queue = await declareQueue(conn, ctx.name('bq'), { exchange, routingKey: 'first' });
      await queue.bindTo(exchange, 'second');
      await publish(conn, 1, { exchange, routingKey: 'first' });
      await publish(conn, 2, { exchange, routingKey: 'second' });
      expect(await drainQueue(queue)).toEqual([1, 2]);
    });

    it('makes a publish unroutable once its only queue was deleted', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('bx'), 'direct');
      const queue = await declareQueue(conn, ctx.name('bq'), { exchange, routingKey: 'gone' });
      await publish(conn, 'before', { exchange, routingKey: 'gone' });
      await queue.delete();
      const result = await publish(conn, 'after', { exchange, routingKey: 'gone' });
      expect(result.status).toBe('unroutable');
      expect(result.queues).toEqual([]);
    });
  });

  describe('topic exchange (Kombu semantics, docs/wire-format.md#topic)', () => {
    it('matches stock.# against stock.us.nasdaq', async () => {
      expect(await topicMatches(ctx, ['stock.#'], 'stock.us.nasdaq')).toEqual(['stock.#']);
    });

    it('does not match stock.# against stock (unlike AMQP)', async () => {
      expect(await topicMatches(ctx, ['stock.#'], 'stock')).toEqual([]);
    });

    it('matches stock.# against stock. (the dot is literal, # may be empty)', async () => {
      expect(await topicMatches(ctx, ['stock.#'], 'stock.')).toEqual(['stock.#']);
    });

    it('lets * span several words: *.b matches x.y.b', async () => {
      expect(await topicMatches(ctx, ['*.b'], 'x.y.b')).toEqual(['*.b']);
    });

    it('needs at least one character for *: *.b does not match .b', async () => {
      expect(await topicMatches(ctx, ['*.b'], '.b')).toEqual([]);
    });

    it('lets a lone * match a dotted key a.b', async () => {
      expect(await topicMatches(ctx, ['*'], 'a.b')).toEqual(['*']);
    });

    it('does not match a.#.b against a.b (unlike AMQP) but matches a.x.y.b', async () => {
      expect(await topicMatches(ctx, ['a.#.b'], 'a.b')).toEqual([]);
      expect(await topicMatches(ctx, ['a.#.b'], 'a.x.y.b')).toEqual(['a.#.b']);
    });

    it('treats dots as literal characters: stock.# does not match stockxeuropexOSE', async () => {
      expect(await topicMatches(ctx, ['stock.#'], 'stockxeuropexOSE')).toEqual([]);
    });

    it('routes to exactly the queues whose pattern matches', async () => {
      const keys = ['stock.#', 'stock.us.*', 'stock.*.nyse'];
      expect((await topicMatches(ctx, keys, 'stock.us.nasdaq')).sort()).toEqual(['stock.#', 'stock.us.*']);
      expect(await topicMatches(ctx, keys, 'stock.europe.OSE')).toEqual(['stock.#']);
      expect((await topicMatches(ctx, keys, 'stock.x.y.nyse')).sort()).toEqual(['stock.#', 'stock.*.nyse']);
    });

    it('matches punctuation in binding keys literally: order-created.* does not match orderXcreated.eu', async () => {
      expect(await topicMatches(ctx, ['order-created.*'], 'order-created.eu')).toEqual(['order-created.*']);
      expect(await topicMatches(ctx, ['order-created.*'], 'orderXcreated.eu')).toEqual([]);
      expect(await topicMatches(ctx, ['a_b c/d.#'], 'a_b c/d.x')).toEqual(['a_b c/d.#']);
    });

    it('matches non-ASCII words as letters: 日本.* matches 日本.東京 but not 日本x東京', async () => {
      expect(await topicMatches(ctx, ['日本.*'], '日本.東京')).toEqual(['日本.*']);
      expect(await topicMatches(ctx, ['日本.*'], '日本x東京')).toEqual([]);
    });

    it('matches # against every key, including the empty one', async () => {
      expect(await topicMatches(ctx, ['#'], 'any.thing.at.all')).toEqual(['#']);
      expect(await topicMatches(ctx, ['#'], '')).toEqual(['#']);
    });

    it('delivers one copy to a queue whose several bindings all match', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('tx'), 'topic');
      const queue = await declareQueue(conn, ctx.name('tq'), {
        bindings: [new Binding(exchange, 'log.#'), new Binding(exchange, 'log.*'), new Binding(exchange, '#')],
      });
      const result = await publish(conn, 'multi', { exchange, routingKey: 'log.error' });
      expect(result.queues).toEqual([queue.name]);
      expect(await drainQueue(queue)).toEqual(['multi']);
    });
  });

  describe('fanout exchange', () => {
    it('delivers a copy to the consumer of every bound queue', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('fx'), 'fanout');
      const qa = new Queue(ctx.name('fqa'), { exchange, routingKey: '' });
      const qb = new Queue(ctx.name('fqb'), { exchange, routingKey: '' });
      const a = collector();
      const b = collector();
      // One channel per queue: on Redis only one fanout queue per exchange per channel receives
      // (docs/wire-format.md#fanout).
      const consumerA = new Consumer(await conn.channel(), [qa], { onMessage: a.onMessage, noAck: true });
      const consumerB = new Consumer(await conn.channel(), [qb], { onMessage: b.onMessage, noAck: true });
      await consumerA.consume();
      await consumerB.consume();
      // Let the transport start listening before publishing (Redis fanout is pub/sub).
      await expect(conn.drainEvents({ timeout: ctx.idleSeconds })).rejects.toBeInstanceOf(OperationTimeoutError);
      await publish(conn, { news: 1 }, { exchange, routingKey: '' });
      await drainUntil(conn, () => a.messages.length >= 1 && b.messages.length >= 1);
      expect(a.payloads()).toEqual([{ news: 1 }]);
      expect(b.payloads()).toEqual([{ news: 1 }]);
      expect(a.messages[0]?.deliveryInfo.exchange).toBe(exchange.name);
    });
  });

  describe('anonymous exchange', () => {
    it('sends a message published to the empty exchange straight to the queue named by the routing key', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('aq'));
      const result = await publish(conn, { direct: true }, { exchange: '', routingKey: queue.name });
      expect(result.status).toBe('routed');
      expect(result.queues).toEqual([queue.name]);
      const message = await queue.get({ noAck: true });
      expect(message?.payload).toEqual({ direct: true });
      expect(message?.deliveryInfo.exchange).toBe('');
      expect(message?.deliveryInfo.routingKey).toBe(queue.name);
    });
  });

  describe('unroutable messages', () => {
    it('reports status unroutable and stores nothing when no binding matches', async () => {
      const conn = await ctx.connection();
      const exchange = await declareExchange(conn, ctx.name('ux'), 'direct');
      const queue = await declareQueue(conn, ctx.name('uq'), { exchange, routingKey: 'yes' });
      const result = await publish(conn, 'lost', { exchange, routingKey: 'no' });
      expect(result.status).toBe('unroutable');
      expect(result.queues).toEqual([]);
      expect(await drainQueue(queue)).toEqual([]);
    });

    it('reports status dead-lettered and stores the message in the deadletterQueue', async () => {
      const dlqName = ctx.name('dlq');
      const conn = await ctx.connection({ deadletterQueue: dlqName });
      const dlq = await declareQueue(conn, dlqName);
      const exchange = await declareExchange(conn, ctx.name('ux'), 'direct');
      await declareQueue(conn, ctx.name('uq'), { exchange, routingKey: 'yes' });
      const result = await publish(conn, { dead: 1 }, { exchange, routingKey: 'nomatch' });
      expect(result.status).toBe('dead-lettered');
      expect(result.queues).toEqual([dlqName]);
      const message = await dlq.get({ noAck: true });
      expect(message?.payload).toEqual({ dead: 1 });
      expect(message?.deliveryInfo.routingKey).toBe('nomatch');
    });

    // kelp departs from Kombu here on purpose: Kombu drops an unmatched topic publish even when a
    // deadletter_queue is set (docs/wire-format.md#unroutable-messages); kelp never drops silently,
    // so it dead-letters it like a direct one (issue #2: "unroutable messages go to a
    // deadletterQueue when one is set").
    it('dead-letters an unmatched topic publish when a dead-letter queue is set (unlike Kombu)', async () => {
      const dlqName = ctx.name('dlq');
      const conn = await ctx.connection({ deadletterQueue: dlqName });
      const dlq = await declareQueue(conn, dlqName);
      const exchange = await declareExchange(conn, ctx.name('ux'), 'topic');
      await declareQueue(conn, ctx.name('uq'), { exchange, routingKey: 'a.#' });
      const result = await publish(conn, 'x', { exchange, routingKey: 'b.c' });
      expect(result.status).toBe('dead-lettered');
      expect(await drainQueue(dlq)).toEqual(['x']);
    });
  });
}
