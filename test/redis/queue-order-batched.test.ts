/**
 * Batched pops under round_robin: a pop drains the first non-empty list of the cycle up to its
 * limit, then the cycle rotates past every queue that delivered. So service goes round in runs
 * of at most a prefetch window per queue, and no queue with messages waits for more than one run
 * of each other queue. (`kelp bench polling` once reported Jain's index 0.1 here: that was its
 * fairness window closing after the first batch, not a queue being starved.)
 */
import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, message, redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

/** Consecutive deliveries from the same queue: [queue, count][]. */
function runsOf(queues: readonly string[]): Array<[string, number]> {
  const runs: Array<[string, number]> = [];
  for (const queue of queues) {
    const last = runs[runs.length - 1];
    if (last && last[0] === queue) last[1] += 1;
    else runs.push([queue, 1]);
  }
  return runs;
}

describe('round_robin with batched pops', () => {
  it('serves every non-empty queue in turn, in runs of at most one prefetch window', async () => {
    const prefetch = 20;
    const { channel, hub } = await fx.newTransport({ queueOrderStrategy: 'round_robin', batchSize: prefetch });
    // A skewed backlog: the first queue holds 200, the others 30 each.
    const backlog: Record<string, number> = { 'rr.a': 200, 'rr.b': 30, 'rr.c': 30, 'rr.d': 30 };
    for (const [queue, count] of Object.entries(backlog)) {
      for (let i = 0; i < count; i += 1) await channel.basicPublish(message({ queue, i }), '', queue);
    }
    const total = Object.values(backlog).reduce((a, b) => a + b, 0);
    await channel.basicQos(prefetch);
    const got: Delivery[] = [];
    const onDelivery = (delivery: Delivery): void => {
      got.push(delivery);
      void channel.basicAck(delivery.deliveryTag);
    };
    for (const queue of Object.keys(backlog)) await channel.basicConsume(queue, { onDelivery });
    await collect(hub, got, total, 10_000);

    const order = got.map((d) => d.deliveryInfo.routingKey);
    expect(order).toHaveLength(total);
    const runs = runsOf(order);
    // The last run is the big queue's remainder, once it is the only one left.
    const last = runs.pop() as [string, number];
    expect(last[0]).toBe('rr.a');
    // While two or more queues hold messages, no run is longer than one prefetch window (two
    // pops in flight, half the window each).
    expect(Math.max(...runs.map(([, n]) => n))).toBeLessThanOrEqual(prefetch);
    // Every queue got its first run within the first round: one window per queue at most.
    for (const queue of Object.keys(backlog)) expect(order.indexOf(queue)).toBeLessThan(4 * prefetch);
    // The three small queues (90 messages) are done before the big one has had 120 of its 200:
    // they were served alongside it, not after it.
    const smallDone = Math.max(...['rr.b', 'rr.c', 'rr.d'].map((q) => order.lastIndexOf(q)));
    expect(order.slice(0, smallDone + 1).filter((q) => q === 'rr.a').length).toBeLessThanOrEqual(120);
  });
});
