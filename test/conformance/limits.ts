/**
 * Queue length limits (docs/wire-format.md#length-limits): `x-max-length` and
 * `x-max-length-bytes` with `x-overflow` `drop-head` (the next message to be consumed makes room:
 * dead-lettered with the reason `maxlen` on a queue with `x-dead-letter`, else dropped and
 * counted) or `reject-publish` (the publish resolves with the status `rejected`).
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Exchange, type Connection } from 'kelp';
import { adminOf, caught, declareQueue, drainQueue, publish, type SuiteContext } from './context.js';

async function droppedOf(conn: Connection, queue: string): Promise<Record<string, number>> {
  return (await adminOf(conn).inspect()).queues.find((q) => q.name === queue)?.dropped ?? {};
}

/** Publishes ids in order to `queue` through the default exchange; resolves with each status. */
async function publishIds(conn: Connection, queue: string, ids: readonly number[]): Promise<string[]> {
  const statuses: string[] = [];
  for (const id of ids) statuses.push((await publish(conn, { id }, { exchange: '', routingKey: queue, messageId: `m-${id}` })).status);
  return statuses;
}

/** Publishes ids all at once (one burst, which a transport may store in one step); resolves with each status. */
async function publishBurst(conn: Connection, queue: string, ids: readonly number[]): Promise<string[]> {
  const results = await Promise.all(ids.map((id) => publish(conn, { id }, { exchange: '', routingKey: queue, messageId: `m-${id}` })));
  return results.map((result) => result.status);
}

/**
 * The stored size in bytes of a message `publishIds` writes to `queue` (the routing key, here the
 * queue name, is part of the envelope): one is published to a queue of a name as long that holds
 * nothing, and its dead letter shows the stored envelope.
 */
async function storedSize(conn: Connection, queue: string): Promise<number> {
  const scratch = `${queue.slice(0, -1)}s`;
  await declareQueue(conn, scratch, { queueArguments: { 'x-max-length': 0, 'x-dead-letter': true } });
  await publishIds(conn, scratch, [9]);
  const [entry] = await adminOf(conn).deadLetters(scratch);
  if (!entry) throw new Error('the scratch message was not dead-lettered');
  return Buffer.byteLength(entry.raw);
}

export function limitTests(ctx: SuiteContext): void {
  describe('x-max-length', () => {
    it('drops the oldest waiting messages past the limit with drop-head and counts them', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('maxlen');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length': 3 } });
      expect(await publishIds(conn, name, [1, 2, 3, 4, 5])).toEqual(['routed', 'routed', 'routed', 'routed', 'routed']);
      expect(await drainQueue(queue)).toEqual([{ id: 3 }, { id: 4 }, { id: 5 }]);
      expect(await droppedOf(conn, name)).toEqual({ maxlen: 2 });
      expect(await adminOf(conn).deadLetters(name)).toEqual([]);
    });

    it('dead-letters the dropped heads with reason maxlen on a queue with x-dead-letter', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('maxlen');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length': 3, 'x-dead-letter': true } });
      await publishIds(conn, name, [1, 2, 3, 4, 5]);
      const dead = await adminOf(conn).deadLetters(name);
      expect(dead.map((d) => [d.reason, JSON.parse(d.raw).properties.message_id])).toEqual([
        ['maxlen', 'm-1'],
        ['maxlen', 'm-2'],
      ]);
      expect(await drainQueue(queue)).toEqual([{ id: 3 }, { id: 4 }, { id: 5 }]);
      expect(await droppedOf(conn, name)).toEqual({});
    });

    it('refuses publishes past the limit with reject-publish, resolving with status rejected', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('maxlen');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
      expect(await publishIds(conn, name, [1, 2, 3, 4])).toEqual(['routed', 'routed', 'rejected', 'rejected']);
      const refused = await publish(conn, { id: 5 }, { exchange: '', routingKey: name });
      expect([refused.status, refused.queues, refused.rejected]).toEqual(['rejected', [], [name]]);
      const first = await queue.get();
      await first?.ack();
      expect(await publishIds(conn, name, [6])).toEqual(['routed']);
      expect([first?.payload, ...(await drainQueue(queue))]).toEqual([{ id: 1 }, { id: 2 }, { id: 6 }]);
      expect(await droppedOf(conn, name)).toEqual({});
    });

    it('names only the full queue when a routed publish reaches two queues and one refuses', async () => {
      const conn = await ctx.connection();
      const exchange = new Exchange(ctx.name('limx'), { type: 'direct' });
      const full = ctx.name('full');
      const open = ctx.name('open');
      await declareQueue(conn, full, { exchange, routingKey: 'k', queueArguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
      const other = await declareQueue(conn, open, { exchange, routingKey: 'k' });
      const result = await publish(conn, { id: 1 }, { exchange, routingKey: 'k' });
      expect([result.status, result.queues, result.rejected]).toEqual(['rejected', [open], [full]]);
      expect(await drainQueue(other)).toEqual([{ id: 1 }]);
    });

    it('stores a burst that fits under the limit whole and in order', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('maxlen');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length': 5, 'x-message-ttl': 60_000 } });
      expect(await publishBurst(conn, name, [1, 2, 3, 4, 5])).toEqual(['routed', 'routed', 'routed', 'routed', 'routed']);
      expect(await drainQueue(queue)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }]);
      expect(await droppedOf(conn, name)).toEqual({});
    });

    it('drops the oldest with drop-head when a burst goes over the limit', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('maxlen');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length': 3 } });
      await publishIds(conn, name, [1]);
      expect(await publishBurst(conn, name, [2, 3, 4, 5])).toEqual(['routed', 'routed', 'routed', 'routed']);
      expect(await drainQueue(queue)).toEqual([{ id: 3 }, { id: 4 }, { id: 5 }]);
      expect(await droppedOf(conn, name)).toEqual({ maxlen: 2 });
    });

    it('refuses the part of a burst past the limit with reject-publish', async () => {
      const conn = await ctx.connection();
      const name = ctx.name('maxlen');
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length': 3, 'x-overflow': 'reject-publish' } });
      await publishIds(conn, name, [1]);
      expect(await publishBurst(conn, name, [2, 3, 4, 5])).toEqual(['routed', 'routed', 'rejected', 'rejected']);
      expect(await drainQueue(queue)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    });

    it('refuses an x-overflow it does not know with a ConfigurationError naming it', async () => {
      const conn = await ctx.connection();
      const error = await caught(() => declareQueue(conn, ctx.name('maxlen'), { queueArguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx' } }));
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).option).toBe('x-overflow');
    });
  });

  describe('x-max-length-bytes', () => {
    it('keeps the stored envelopes within the byte limit with drop-head', async () => {
      const conn = await ctx.connection();
      const name = `${ctx.name('maxbytes')}-q`;
      const size = await storedSize(conn, name);
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length-bytes': 2 * size + Math.floor(size / 2) } });
      await publishIds(conn, name, [1, 2, 3, 4]);
      expect(await drainQueue(queue)).toEqual([{ id: 3 }, { id: 4 }]);
      expect(await droppedOf(conn, name)).toEqual({ maxlen: 2 });
    });

    it('refuses a publish that would go over the byte limit with reject-publish', async () => {
      const conn = await ctx.connection();
      const name = `${ctx.name('maxbytes')}-q`;
      const size = await storedSize(conn, name);
      const queue = await declareQueue(conn, name, { queueArguments: { 'x-max-length-bytes': 2 * size, 'x-overflow': 'reject-publish' } });
      expect(await publishIds(conn, name, [1, 2, 3])).toEqual(['routed', 'routed', 'rejected']);
      expect(await drainQueue(queue)).toEqual([{ id: 1 }, { id: 2 }]);
    });
  });
}
