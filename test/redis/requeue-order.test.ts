/**
 * A poll in flight when its consumer is cancelled (or its channel closes) takes a message nobody
 * will receive. It goes back to the head of its queue (RPUSH), so it neither overtakes nor falls
 * behind messages published meanwhile (the conformance "stops delivering after cancel()" once
 * saw [3, 2]: Kombu's LPUSH to the back put the popped 2 behind a 3 published after it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(async () => {
  await fx.close();
});

function bodies(list: string[]): unknown[] {
  // RPOP order: the list's last element is the head.
  return [...list].reverse().map((p) => JSON.parse(Buffer.from((JSON.parse(p) as { body: string }).body, 'base64').toString()));
}

describe('messages a poll took for a consumer that is gone', () => {
  it('go back to the head of the queue, in the order taken, ahead of later publishes (no ack record)', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message(2), '', 'order-q');
    await channel.basicPublish(message(3), '', 'order-q');
    const taken = (await fx.redis.rpop('order-q', 2)) ?? [];
    await channel.basicPublish(message(4), '', 'order-q');
    // Nobody consumes order-q on this channel: what a poll hands over (one batch, one turn) is undeliverable.
    for (const payload of taken) void channel.handleIncoming('order-q', payload, { recorded: false });
    await channel.close();
    expect(bodies(await fx.redis.lrange('order-q', 0, -1))).toEqual([2, 3, 4]);
  });

  it('go back to the head through the unacked record when the pop recorded one', async () => {
    const { channel } = await fx.newTransport();
    await channel.basicPublish(message('first'), '', 'order-r');
    await channel.basicPublish(message('second'), '', 'order-r');
    const got = await channel.basicGet('order-r');
    await channel.basicPublish(message('third'), '', 'order-r');
    const raw = await fx.redis.hget('unacked', got?.deliveryTag ?? '');
    const payload = (JSON.parse(raw ?? '[]') as unknown[])[0];
    void channel.handleIncoming('order-r', JSON.stringify(payload), { recorded: true, deliveryTag: got?.deliveryTag ?? '' });
    // basicGet put it in the QoS too; close restores nothing twice (the record is gone).
    await channel.close();
    expect(bodies(await fx.redis.lrange('order-r', 0, -1))).toEqual(['first', 'second', 'third']);
    expect(await fx.redis.hlen('unacked')).toBe(0);
  });
});

describe('closing during a restore sweep', () => {
  it('stops the sweep between batches and leaves no unacked_mutex behind', async () => {
    const { transport, channel } = await fx.newTransport({ visibilityTimeout: 0, unackedRestoreInterval: 0 });
    const pipeline = fx.redis.pipeline();
    for (let i = 0; i < 3000; i++) {
      const payload = JSON.stringify({ body: 'e30=', 'content-encoding': 'utf-8', 'content-type': 'application/json', headers: {}, properties: { delivery_info: { exchange: '', routing_key: 'sweep-q' }, priority: 0, body_encoding: 'base64', delivery_tag: `s${i}` } });
      pipeline.hset('unacked', `s${i}`, `[${payload}, "", "sweep-q"]`).zadd('unacked_index', 1, `s${i}`);
    }
    await pipeline.exec();
    const sweep = channel.restoreVisible().catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await transport.close();
    const restored = await sweep;
    expect(await fx.redis.exists('unacked_mutex')).toBe(0);
    // What the sweep moved before it stopped is in the queue; the rest is still unacked, nothing lost.
    expect((await fx.redis.llen('sweep-q')) + (await fx.redis.hlen('unacked'))).toBe(3000);
    // Before: the sweep ran on into the closed connection and failed ("Connection is closed"),
    // its release lost whenever a batch held the lock at that moment.
    expect(restored instanceof Error ? restored.message : 'stopped cleanly').toBe('stopped cleanly');
  });
});
