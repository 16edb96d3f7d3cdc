/**
 * Which queue a multi-queue consumer serves next (docs/wire-format.md#queue-order-strategies,
 * `queueOrderStrategy`): round_robin rotates the queue that just delivered to the end, priority
 * keeps declaration order, sorted goes alphabetically. Also: competing consumers on one queue each
 * get a message exactly once.
 */
import { describe, expect, it } from 'vitest';
import { Consumer, Queue, type Connection, type Message } from 'kelp';
import { declareQueue, drainUntil, publish, type SuiteContext } from './context.js';

export function queueOrderTests(ctx: SuiteContext): void {
  /**
   * Puts two messages in each of three queues named `<base>-a/-b/-c`, consumes them one at a time
   * (prefetch 1, ack in the callback) from the queues in `consumeOrder`, and returns the suffix of
   * the queue each message came from, in consumption order.
   */
  async function consumptionOrder(strategy: string, consumeOrder: readonly string[]): Promise<string[]> {
    const conn = await ctx.connection({ queueOrderStrategy: strategy });
    const base = ctx.name('qo');
    for (const suffix of ['a', 'b', 'c']) {
      await declareQueue(conn, `${base}-${suffix}`);
      for (const n of [1, 2]) await publish(conn, `${suffix}${n}`, { exchange: '', routingKey: `${base}-${suffix}` });
    }
    const order: string[] = [];
    const consumer = new Consumer(
      await conn.channel(),
      consumeOrder.map((suffix) => new Queue(`${base}-${suffix}`)),
      {
        prefetchCount: 1,
        onMessage: async (message) => {
          order.push(message.deliveryInfo.routingKey.slice(base.length + 1));
          await message.ack();
        },
      },
    );
    await consumer.consume();
    await drainUntil(conn, () => order.length >= 6);
    return order;
  }

  describe('queue order strategies', () => {
    it('round_robin serves every queue once before serving any queue again', async () => {
      const order = await consumptionOrder('round_robin', ['a', 'b', 'c']);
      expect([...order.slice(0, 3)].sort()).toEqual(['a', 'b', 'c']);
      expect(order.slice(3)).toEqual(order.slice(0, 3));
    });

    it('priority drains the queues in the order they were consumed', async () => {
      expect(await consumptionOrder('priority', ['b', 'a', 'c'])).toEqual(['b', 'b', 'a', 'a', 'c', 'c']);
    });

    it('sorted drains the queues in alphabetical order', async () => {
      expect(await consumptionOrder('sorted', ['c', 'a', 'b'])).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
    });
  });

  describe('competing consumers', () => {
    it('delivers each message to exactly one of two consumers on different connections', async () => {
      const name = ctx.name('cc');
      const feeder = await ctx.connection();
      await declareQueue(feeder, name);
      for (let n = 1; n <= 10; n++) await publish(feeder, n, { exchange: '', routingKey: name });
      const received: unknown[] = [];
      const start = async (conn: Connection): Promise<void> => {
        const consumer = new Consumer(await conn.channel(), [new Queue(name)], {
          prefetchCount: 1,
          onMessage: async (message: Message) => {
            received.push(message.payload);
            await message.ack();
          },
        });
        await consumer.consume();
      };
      const a = await ctx.connection();
      const b = await ctx.connection();
      await start(a);
      await start(b);
      await Promise.all([drainUntil(a, () => received.length >= 10), drainUntil(b, () => received.length >= 10)]);
      expect([...received].sort((x, y) => Number(x) - Number(y))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });
  });
}
