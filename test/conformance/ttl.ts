/**
 * Message TTL (docs/wire-format.md#message-ttl): `publish({ expiration })` and the queue argument
 * `x-message-ttl`. A message whose TTL has passed when a consumer would take it is never
 * delivered nor left unacked: it is dead-lettered with the reason `expired` where the queue has
 * dead-letter routing, else dropped and counted; both are reported by the `expired` event.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Consumer, Queue, type Connection, type ExpiredInfo } from 'kelp';
import { adminOf, caught, collector, declareQueue, drainIdle, drainUntil, publish, sleep, type SuiteContext } from './context.js';

/** Past a 1 s TTL with room for a loaded machine's timers. */
const PAST_ONE_SECOND_MS = 2000;

/** The inspect row of `queue`: unacked count, dead letters and drops. */
async function queueRow(conn: Connection, queue: string): Promise<{ unacked: number; deadLetters: number; dropped: Record<string, number> }> {
  const row = (await adminOf(conn).inspect()).queues.find((q) => q.name === queue);
  return { unacked: row?.unacked ?? 0, deadLetters: row?.deadLetters ?? 0, dropped: row?.dropped ?? {} };
}

function expiredEvents(conn: Connection): ExpiredInfo[] {
  const events: ExpiredInfo[] = [];
  conn.on('expired', (info) => events.push(info));
  return events;
}

export function ttlTests(ctx: SuiteContext): void {
  describe('message TTL', () => {
    it('dead-letters with reason expired a message published with a 1 s TTL and taken after 2 s', async () => {
      const conn = await ctx.connection();
      const events = expiredEvents(conn);
      const name = ctx.name('ttl');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-dead-letter': true } });
      await publish(conn, { id: 'late' }, { exchange: '', routingKey: name, expiration: 1, messageId: 'late' });
      await sleep(PAST_ONE_SECOND_MS);
      expect(await queue.get()).toBeUndefined();
      const dead = await adminOf(conn).deadLetters(name);
      expect(dead.map((d) => [d.reason, JSON.parse(d.raw).properties.message_id])).toEqual([['expired', 'late']]);
      expect(events).toEqual([{ queue: name, deadLettered: true }]);
      expect(await queueRow(conn, name)).toEqual({ unacked: 0, deadLetters: 1, dropped: {} });
    });

    it('drops and counts an expired message on a queue without dead-letter routing', async () => {
      const conn = await ctx.connection();
      const events = expiredEvents(conn);
      const name = ctx.name('ttl');
      const queue = await declareQueue(conn, name);
      await publish(conn, { id: 'late' }, { exchange: '', routingKey: name, expiration: 1 });
      await sleep(PAST_ONE_SECOND_MS);
      expect(await queue.get({ noAck: true })).toBeUndefined();
      expect(events).toEqual([{ queue: name, deadLettered: false }]);
      expect(await adminOf(conn).deadLetters(name)).toEqual([]);
      expect(await queueRow(conn, name)).toEqual({ unacked: 0, deadLetters: 0, dropped: { expired: 1 } });
    });

    it('delivers a message taken before its TTL has passed', async () => {
      const conn = await ctx.connection();
      const events = expiredEvents(conn);
      const name = ctx.name('ttl');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-dead-letter': true } });
      await publish(conn, { id: 'on-time' }, { exchange: '', routingKey: name, expiration: 1 });
      const message = await queue.get();
      expect(message?.payload).toEqual({ id: 'on-time' });
      expect(message?.properties.expiration).toBe('1000');
      await message?.ack();
      expect(events).toEqual([]);
    });

    it('gives a consumer only the messages whose TTL has not passed, and counts the others', async () => {
      const producerConn = await ctx.connection();
      const name = ctx.name('ttl');
      await declareQueue(producerConn, name);
      await publish(producerConn, { id: 1 }, { exchange: '', routingKey: name, expiration: 1 });
      await publish(producerConn, { id: 2 }, { exchange: '', routingKey: name });
      await publish(producerConn, { id: 3 }, { exchange: '', routingKey: name, expiration: 1 });
      await publish(producerConn, { id: 4 }, { exchange: '', routingKey: name, expiration: 60 });
      await sleep(PAST_ONE_SECOND_MS);
      const conn = await ctx.connection();
      const events = expiredEvents(conn);
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], { onMessage: got.onMessage, prefetchCount: 10 });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 2);
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([{ id: 2 }, { id: 4 }]);
      for (const message of got.messages) await message.ack();
      expect(events).toEqual([
        { queue: name, deadLettered: false },
        { queue: name, deadLettered: false },
      ]);
      expect(await queueRow(conn, name)).toEqual({ unacked: 0, deadLetters: 0, dropped: { expired: 2 } });
    });
  });

  describe('x-message-ttl', () => {
    it('dead-letters with reason expired a message that waited longer than the queue TTL', async () => {
      const conn = await ctx.connection();
      const events = expiredEvents(conn);
      const name = ctx.name('qttl');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-message-ttl': 1000, 'x-dead-letter': true } });
      await publish(conn, { id: 'late' }, { exchange: '', routingKey: name, messageId: 'late' });
      await sleep(PAST_ONE_SECOND_MS);
      await publish(conn, { id: 'fresh' }, { exchange: '', routingKey: name, messageId: 'fresh' });
      const message = await queue.get();
      expect(message?.payload).toEqual({ id: 'fresh' });
      await message?.ack();
      expect(await queue.get()).toBeUndefined();
      const dead = await adminOf(conn).deadLetters(name);
      expect(dead.map((d) => [d.reason, JSON.parse(d.raw).properties.message_id])).toEqual([['expired', 'late']]);
      expect(events).toEqual([{ queue: name, deadLettered: true }]);
    });

    it('applies to a consumer on another connection that never declared the queue', async () => {
      const declaring = await ctx.connection();
      const name = ctx.name('qttl');
      await declareQueue(declaring, name, { queueArguments: { 'x-message-ttl': 1000 } });
      const producerConn = await ctx.connection();
      for (const id of [1, 2, 3]) await publish(producerConn, { id }, { exchange: '', routingKey: name });
      await sleep(PAST_ONE_SECOND_MS);
      await publish(producerConn, { id: 4 }, { exchange: '', routingKey: name });
      const conn = await ctx.connection();
      const got = collector();
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], { onMessage: got.onMessage });
      await consumer.consume();
      await drainUntil(conn, () => got.messages.length >= 1);
      await drainIdle(conn, ctx.idleSeconds);
      expect(got.payloads()).toEqual([{ id: 4 }]);
      for (const message of got.messages) await message.ack();
      expect(await queueRow(conn, name)).toEqual({ unacked: 0, deadLetters: 0, dropped: { expired: 3 } });
    });

    it('lets the shorter of the message and queue TTLs apply', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('qttl');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-message-ttl': 60_000 } });
      await publish(conn, { id: 'short' }, { exchange: '', routingKey: name, expiration: 1 });
      await sleep(PAST_ONE_SECOND_MS);
      expect(await queue.get()).toBeUndefined();
      expect((await queueRow(conn, name)).dropped).toEqual({ expired: 1 });
    });

    it('lets the shorter TTL apply to each message of a burst (one publish step), the others kept', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('qttl');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-message-ttl': 60_000 } });
      await Promise.all([
        publish(conn, { id: 1 }, { exchange: '', routingKey: name }),
        publish(conn, { id: 'short' }, { exchange: '', routingKey: name, expiration: 1 }),
        publish(conn, { id: 3 }, { exchange: '', routingKey: name }),
      ]);
      await sleep(PAST_ONE_SECOND_MS);
      const kept = [];
      for (let message = await queue.get(); message; message = await queue.get()) {
        kept.push(message.payload);
        await message.ack();
      }
      expect(kept).toEqual([{ id: 1 }, { id: 3 }]);
      expect((await queueRow(conn, name)).dropped).toEqual({ expired: 1 });
    });

    it('keeps taking publishes on a queue with a TTL that holds messages and dead letters', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('qttl');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-message-ttl': 60_000, 'x-dead-letter': true } });
      await publish(conn, { id: 'late' }, { exchange: '', routingKey: name, expiration: 1 });
      await sleep(PAST_ONE_SECOND_MS);
      expect(await queue.get()).toBeUndefined();
      expect((await queueRow(conn, name)).deadLetters).toBe(1);
      expect((await publish(conn, { id: 1 }, { exchange: '', routingKey: name })).status).toBe('routed');
      expect((await publish(conn, { id: 2 }, { exchange: '', routingKey: name })).status).toBe('routed');
      const first = await queue.get();
      await first?.ack();
      expect(first?.payload).toEqual({ id: 1 });
    });

    it('refuses an x-message-ttl that is not a whole number of milliseconds with a ConfigurationError', async () => {
      const conn = await ctx.connection();
      const error = await caught(() => declareQueue(conn, ctx.name('qttl'), { queueArguments: { 'x-message-ttl': '1s' } }));
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).option).toBe('x-message-ttl');
    });
  });
}
