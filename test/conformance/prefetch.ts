/**
 * QoS / prefetch (docs/wire-format.md#prefetch): a consumer holds at most `prefetchCount` unacked
 * messages; acks and rejects free slots; no-ack consumers are not limited; `qos()` changes the
 * limit at run time.
 */
import { describe, expect, it } from 'vitest';
import { Consumer, Queue, type Connection } from 'kelp';
import { collector, declareQueue, drainIdle, publish, type Collector, type SuiteContext } from './context.js';

async function setup(
  ctx: SuiteContext,
  count: number,
  options: { prefetchCount?: number; noAck?: boolean },
): Promise<{ conn: Connection; got: Collector; consumer: Consumer }> {
  const conn = await ctx.connection();
  const name = ctx.name('fq');
  await declareQueue(conn, name);
  for (let n = 1; n <= count; n++) await publish(conn, n, { exchange: '', routingKey: name });
  const got = collector();
  const consumer = new Consumer(await conn.channel(), [new Queue(name)], { onMessage: got.onMessage, ...options });
  await consumer.consume();
  return { conn, got, consumer };
}

export function prefetchTests(ctx: SuiteContext): void {
  describe('prefetch', () => {
    it('delivers one message at a time with prefetchCount 1, the next only after the ack', async () => {
      const { conn, got } = await setup(ctx, 3, { prefetchCount: 1 });
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1]);
      await got.messages[0]?.ack();
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2]);
    });

    it('delivers exactly five of eight messages with prefetchCount 5 before any ack', async () => {
      const { conn, got } = await setup(ctx, 8, { prefetchCount: 5 });
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2, 3, 4, 5]);
      for (const message of got.messages) await message.ack();
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('delivers every waiting message when there is no prefetch limit', async () => {
      const { conn, got } = await setup(ctx, 8, {});
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('frees a prefetch slot when a message is rejected', async () => {
      const { conn, got } = await setup(ctx, 3, { prefetchCount: 1 });
      await drainIdle(conn, ctx.idleSeconds);
      await got.messages[0]?.reject({ requeue: false });
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2]);
    });

    it('frees a prefetch slot when a message is requeued, and serves the next waiting message first', async () => {
      const { conn, got } = await setup(ctx, 3, { prefetchCount: 1 });
      await drainIdle(conn, ctx.idleSeconds);
      await got.messages[0]?.requeue();
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2]);
    });

    it('does not limit a no-ack consumer by its prefetch count', async () => {
      const { conn, got } = await setup(ctx, 4, { prefetchCount: 1, noAck: true });
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2, 3, 4]);
    });

    it('applies a prefetch count raised at run time with qos()', async () => {
      const { conn, got, consumer } = await setup(ctx, 6, { prefetchCount: 1 });
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.messages).toHaveLength(1);
      await consumer.qos({ prefetchCount: 3 });
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([1, 2, 3]);
    });
  });
}
