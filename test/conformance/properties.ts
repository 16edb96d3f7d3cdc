/**
 * What travels with a message (docs/wire-format.md#envelope): headers, properties (correlationId,
 * replyTo, messageId, expiration in seconds on publish and milliseconds on the wire, deliveryMode)
 * and the delivery tag, a UUID4 fixed at publish time.
 */
import { describe, expect, it } from 'vitest';
import { Exchange } from 'kelp';
import { declareQueue, publish, UUID4, type SuiteContext } from './context.js';

export function propertyTests(ctx: SuiteContext): void {
  async function publishAndGet(options: Record<string, unknown>) {
    const conn = await ctx.connection();
    const queue = await declareQueue(conn, ctx.name('hq'));
    const result = await publish(conn, { p: 1 }, { exchange: '', routingKey: queue.name, ...options });
    const message = await queue.get({ noAck: true });
    if (!message) throw new Error('the published message did not arrive');
    return { result, message, queue, conn };
  }

  describe('headers and properties', () => {
    it('round-trips application headers of every JSON type', async () => {
      const headers = { 'x-trace': 'abc', attempt: 3, urgent: true, nothing: null, nested: { list: [1, 'two'] } };
      const { message } = await publishAndGet({ headers });
      expect(message.headers).toMatchObject(headers);
    });

    it('round-trips correlationId and replyTo', async () => {
      const { message } = await publishAndGet({ correlationId: 'corr-1', replyTo: 'reply-queue' });
      expect(message.properties.correlationId).toBe('corr-1');
      expect(message.properties.replyTo).toBe('reply-queue');
    });

    it('round-trips a messageId given at publish', async () => {
      const { message } = await publishAndGet({ messageId: 'msg-42' });
      expect(message.properties.messageId).toBe('msg-42');
    });

    it('turns expiration in seconds into a millisecond string property', async () => {
      const { message } = await publishAndGet({ expiration: 30 });
      expect(message.properties.expiration).toBe('30000');
    });

    it('marks messages persistent (deliveryMode 2) by default', async () => {
      const { message } = await publishAndGet({});
      expect(message.properties.deliveryMode).toBe(2);
    });

    it("maps deliveryMode 'transient' to 1", async () => {
      const { message } = await publishAndGet({ deliveryMode: 'transient' });
      expect(message.properties.deliveryMode).toBe(1);
    });

    it("takes the exchange's deliveryMode when the publish gives none", async () => {
      const conn = await ctx.connection();
      const exchange = new Exchange(ctx.name('hx'), { type: 'direct', deliveryMode: 1 });
      const queue = await declareQueue(conn, ctx.name('hq'), { exchange, routingKey: 'k' });
      await publish(conn, 'x', { exchange, routingKey: 'k' });
      const message = await queue.get({ noAck: true });
      expect(message?.properties.deliveryMode).toBe(1);
    });

    it('round-trips type, appId, userId, timestamp and extra properties', async () => {
      const { message } = await publishAndGet({
        type: 'order.created',
        appId: 'shop',
        userId: 'guest',
        timestamp: 1795287463,
        properties: { 'x-origin': 'eu-1' },
      });
      expect(message.properties).toMatchObject({
        type: 'order.created',
        appId: 'shop',
        userId: 'guest',
        timestamp: 1795287463,
        'x-origin': 'eu-1',
      });
    });
  });

  describe('delivery tags', () => {
    it('gives each message a UUID4 delivery tag, the one the publish reported', async () => {
      const { result, message } = await publishAndGet({});
      expect(result.deliveryTag).toMatch(UUID4);
      expect(message.deliveryTag).toBe(result.deliveryTag);
    });

    it('gives 100 messages 100 distinct delivery tags', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('hq'));
      const published = new Set<string>();
      for (let n = 0; n < 100; n++) {
        published.add((await publish(conn, n, { exchange: '', routingKey: queue.name })).deliveryTag);
      }
      const received = new Set<string>();
      for (let n = 0; n < 100; n++) {
        const message = await queue.get({ noAck: true });
        if (message) received.add(message.deliveryTag);
      }
      expect(published.size).toBe(100);
      expect(received).toEqual(published);
    });
  });
}
