/**
 * Delayed delivery (docs/wire-format.md#delayed-delivery): `publish({ countdown })` / `{ eta }`
 * routes the message at once into each queue's delayed set; a kelp process running a hub moves
 * it into its queue once due. Messages are never delivered before their due time and never lost;
 * a queue's delayed messages show in `inspect` and go with a purge or delete.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Consumer, Queue, type Connection, type Message } from 'kelp';
import { adminOf, caught, declareExchange, declareQueue, drainIdle, drainUntil, publish, sleep, type SuiteContext } from './context.js';

interface Arrival {
  message: Message;
  /** Epoch ms when the consumer got it. */
  at: number;
}

/** A consumer on `queue` that notes when each message arrived. */
async function timedConsumer(conn: Connection, queue: string, prefetchCount = 100): Promise<Arrival[]> {
  const got: Arrival[] = [];
  const consumer = new Consumer(await conn.channel(), [new Queue(queue)], {
    prefetchCount,
    onMessage: (message) => {
      got.push({ message, at: Date.now() });
    },
  });
  await consumer.consume();
  return got;
}

async function inspectRow(conn: Connection, queue: string): Promise<{ length: number; delayed?: number; nextDueAt?: number } | undefined> {
  return (await adminOf(conn).inspect()).queues.find((q) => q.name === queue);
}

/** Runs a hub (and so a delayed mover) on `conn` for `seconds`, consuming an unrelated queue. */
async function runHub(ctx: SuiteContext, conn: Connection, seconds: number): Promise<void> {
  const idle = ctx.name('idle');
  await declareQueue(conn, idle);
  await timedConsumer(conn, idle);
  await drainIdle(conn, seconds);
}

export function delayedTests(ctx: SuiteContext): void {
  describe('delayed delivery', () => {
    it('delivers a countdown message no earlier than its due time, once', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      await declareQueue(conn, name);
      const result = await publish(conn, { id: 'later' }, { exchange: '', routingKey: name, countdown: 0.8 });
      expect(result.status).toBe('routed');
      expect(result.queues).toEqual([name]);
      const dueAt = result.deliverAt as number;
      expect(dueAt).toBeGreaterThan(Date.now() + 500);
      const reader = await ctx.connection();
      const got = await timedConsumer(reader, name);
      await drainUntil(reader, () => got.length >= 1, 5);
      await drainIdle(reader, ctx.idleSeconds);
      expect(got.map((g) => g.message.payload)).toEqual([{ id: 'later' }]);
      expect(got[0]?.at).toBeGreaterThanOrEqual(dueAt);
      expect(got[0]?.message.deliveryTag).toBe(result.deliveryTag);
      await got[0]?.message.ack();
    });

    it('keeps a delayed message out of its queue until due, and shows it in inspect', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      const queue = await declareQueue(conn, name);
      const result = await publish(conn, { id: 'held' }, { exchange: '', routingKey: name, countdown: 60 });
      await runHub(ctx, conn, 0.3);
      expect(await queue.get({ noAck: true })).toBeUndefined();
      const row = await inspectRow(conn, name);
      expect(row?.length).toBe(0);
      expect(row?.delayed).toBe(1);
      expect(row?.nextDueAt).toBeCloseTo((result.deliverAt as number) / 1000, 3);
    });

    it('takes an eta as a Date or an ISO 8601 string', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      await declareQueue(conn, name);
      const at = new Date(Date.now() + 600);
      const byDate = await publish(conn, { id: 'date' }, { exchange: '', routingKey: name, eta: at });
      const byText = await publish(conn, { id: 'text' }, { exchange: '', routingKey: name, eta: new Date(at.getTime() + 100).toISOString() });
      expect(byDate.deliverAt).toBe(at.getTime());
      expect(byText.deliverAt).toBe(at.getTime() + 100);
      const got = await timedConsumer(conn, name);
      await drainUntil(conn, () => got.length >= 2, 5);
      expect(got.map((g) => g.message.payload)).toEqual([{ id: 'date' }, { id: 'text' }]);
      expect(got[0]?.at).toBeGreaterThanOrEqual(at.getTime());
      expect(got[1]?.at).toBeGreaterThanOrEqual(at.getTime() + 100);
      for (const g of got) await g.message.ack();
    });

    it('publishes at once when the eta has passed or the countdown is 0', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      const queue = await declareQueue(conn, name);
      const past = await publish(conn, { id: 'past' }, { exchange: '', routingKey: name, eta: new Date(Date.now() - 1000) });
      await publish(conn, { id: 'now' }, { exchange: '', routingKey: name, countdown: 0 });
      expect(past.deliverAt).toBeUndefined();
      expect((await queue.get({ noAck: true }))?.payload).toEqual({ id: 'past' });
      expect((await queue.get({ noAck: true }))?.payload).toEqual({ id: 'now' });
    });

    it('delivers every one of many delayed messages once, none before its due time', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      await declareQueue(conn, name);
      const due = new Map<number, number>();
      for (let id = 0; id < 40; id++) {
        const result = await publish(conn, { id }, { exchange: '', routingKey: name, countdown: (id % 8) * 0.2 + 0.1 });
        due.set(id, result.deliverAt as number);
      }
      const reader = await ctx.connection();
      const got = await timedConsumer(reader, name, 50);
      await drainUntil(reader, () => got.length >= 40, 10);
      await drainIdle(reader, ctx.idleSeconds);
      const ids = got.map((g) => (g.message.payload as { id: number }).id);
      expect([...ids].sort((a, b) => a - b)).toEqual([...due.keys()]);
      const early = got.filter((g) => g.at < (due.get((g.message.payload as { id: number }).id) as number));
      expect(early).toEqual([]);
      for (const g of got) await g.message.ack();
    });

    it('moves due messages into their priority sub-lists, so priority order holds among them', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      const queue = await declareQueue(conn, name, { maxPriority: 9 });
      const eta = new Date(Date.now() + 300);
      await publish(conn, { id: 'p9' }, { exchange: '', routingKey: name, eta, priority: 9 });
      await publish(conn, { id: 'p0' }, { exchange: '', routingKey: name, eta, priority: 0 });
      await sleep(350);
      await runHub(ctx, await ctx.connection(), 0.5);
      expect((await queue.get({ noAck: true }))?.payload).toEqual({ id: 'p0' });
      expect((await queue.get({ noAck: true }))?.payload).toEqual({ id: 'p9' });
    });

    it('routes at publish time: a binding removed before the due time does not stop the message', async () => {
      const conn = await ctx.connection();
      const exchangeName = ctx.name('dx');
      const name = ctx.name('delay');
      const exchange = await declareExchange(conn, exchangeName, 'direct');
      const queue = await declareQueue(conn, name, { exchange, routingKey: 'rk' });
      const result = await publish(conn, { id: 'routed' }, { exchange: exchangeName, routingKey: 'rk', countdown: 0.3 });
      expect(result.queues).toEqual([name]);
      await queue.unbindFrom(exchange, 'rk');
      await sleep(350);
      await runHub(ctx, await ctx.connection(), 0.5);
      expect((await queue.get({ noAck: true }))?.payload).toEqual({ id: 'routed' });
      const unroutable = await publish(conn, { id: 'none' }, { exchange: exchangeName, routingKey: 'rk', countdown: 1 });
      expect(unroutable.status).toBe('unroutable');
    });

    it('lets a purge or delete of the queue remove its delayed messages', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      const queue = await declareQueue(conn, name);
      await publish(conn, { id: 1 }, { exchange: '', routingKey: name, countdown: 0.3 });
      await publish(conn, { id: 2 }, { exchange: '', routingKey: name });
      expect(await queue.purge()).toBe(2);
      const other = ctx.name('delay');
      const deleted = await declareQueue(conn, other);
      await publish(conn, { id: 3 }, { exchange: '', routingKey: other, countdown: 0.3 });
      await deleted.delete();
      await sleep(350);
      await runHub(ctx, await ctx.connection(), 0.5);
      expect(await queue.get({ noAck: true })).toBeUndefined();
      expect((await inspectRow(conn, other))?.delayed).toBeUndefined();
      await declareQueue(conn, other);
      expect(await new Queue(other).bind(await conn.defaultChannel()).get({ noAck: true })).toBeUndefined();
    });

    it('lets restore move delayed messages already due, with no hub running', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      const queue = await declareQueue(conn, name);
      await publish(conn, { id: 'due' }, { exchange: '', routingKey: name, countdown: 0.2 });
      await publish(conn, { id: 'not-yet' }, { exchange: '', routingKey: name, countdown: 60 });
      await sleep(300);
      expect((await adminOf(conn).restore({ dryRun: true })).delayedMoved).toBe(1);
      expect(await queue.get({ noAck: true })).toBeUndefined();
      expect((await adminOf(conn).restore()).delayedMoved).toBe(1);
      expect((await queue.get({ noAck: true }))?.payload).toEqual({ id: 'due' });
      expect((await inspectRow(conn, name))?.delayed).toBe(1);
    });

    it('refuses bad countdown and eta values with a ConfigurationError naming the option', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('delay');
      await declareQueue(conn, name);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ countdown: -1 }, 'countdown'],
        [{ countdown: Number.NaN }, 'countdown'],
        [{ countdown: '10' }, 'countdown'],
        [{ eta: 'tomorrow' }, 'eta'],
        [{ eta: new Date('nope') }, 'eta'],
        [{ eta: 1_700_000_000 }, 'eta'],
        [{ countdown: 1, eta: new Date() }, 'countdown'],
      ];
      for (const [options, option] of cases) {
        const error = await caught(() => publish(conn, 'x', { exchange: '', routingKey: name, ...options }));
        expect(error, JSON.stringify(options)).toBeInstanceOf(ConfigurationError);
        expect((error as ConfigurationError).option).toBe(option);
      }
      const typo = await caught(() => publish(conn, 'x', { exchange: '', routingKey: name, countdwn: 1 } as Record<string, unknown>));
      expect((typo as Error).message).toContain('did you mean `countdown`');
    });

    it('refuses a delayed publish to a fanout exchange', async () => {
      const conn = await ctx.connection();
      const exchangeName = ctx.name('fx');
      const exchange = await declareExchange(conn, exchangeName, 'fanout');
      await declareQueue(conn, ctx.name('delay'), { exchange });
      const error = await caught(() => publish(conn, 'x', { exchange: exchangeName, countdown: 1 }));
      expect(error).toBeInstanceOf(ConfigurationError);
    });
  });
}
