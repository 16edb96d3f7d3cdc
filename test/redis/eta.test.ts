/**
 * Celery ETA messages held unacked until due (issue 4 item 3): the unacked_index entry is scored
 * at the ETA, so neither kelp's sweeper nor Python Kombu's restore_visible redelivers it early.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, redisFixture, type RedisFixture } from './helpers.js';

const run = promisify(execFile);
let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

const KOMBU_SWEEP = `
import sys
from kombu import Connection
conn = Connection(sys.argv[1], transport_options={'visibility_timeout': 1})
conn.default_channel.qos.restore_visible(num=1000, interval=1)
conn.release()
`;

/**
 * A Celery protocol-2 task message (docs/wire-format.md#celery-task-messages) with an `eta` header,
 * LPUSHed as Celery does.
 */
function celeryEtaMessage(queue: string, tag: string, eta: string): string {
  return JSON.stringify({
    body: Buffer.from(JSON.stringify([[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }])).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { lang: 'py', task: 'tasks.add', id: tag, eta, expires: null, retries: 0, root_id: tag, parent_id: null },
    properties: { correlation_id: tag, reply_to: '', delivery_mode: 2, delivery_info: { exchange: '', routing_key: queue }, priority: 0, body_encoding: 'base64', delivery_tag: tag },
  });
}

describe('a delivered message with a future Celery eta', () => {
  it('is scored at its eta and survives both sweepers until then', { timeout: 20_000 }, async () => {
    const { channel, hub } = await fx.newTransport({ visibilityTimeout: 1 });
    const etaSeconds = Date.now() / 1000 + 30;
    const eta = new Date(etaSeconds * 1000).toISOString().replace('Z', '123+00:00');
    await fx.redis.lpush('eta.q', celeryEtaMessage('eta.q', 'eta-1', eta));
    const got: Delivery[] = [];
    await channel.basicConsume('eta.q', { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1);
    await hub.runUntil(() => false, { timeoutMs: 200 });
    expect(Math.abs(Number(await fx.redis.zscore('unacked_index', 'eta-1')) - etaSeconds)).toBeLessThan(0.01);
    // Two seconds later the visibility timeout (1 s) has long passed for a plain delivery.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await channel.restoreVisible()).toBe(0);
    await run('/usr/bin/python3', ['-c', KOMBU_SWEEP, fx.db.url], { timeout: 20_000 });
    expect([await fx.redis.llen('eta.q'), await fx.redis.hexists('unacked', 'eta-1')]).toEqual([0, 1]);
    await channel.basicAck('eta-1');
    expect(await fx.redis.zcard('unacked_index')).toBe(0);
  });

  it('keeps the delivery time for an eta already past, so the usual visibility timeout applies', async () => {
    const { channel } = await fx.newTransport({ visibilityTimeout: 1 });
    await fx.redis.lpush('eta.past', celeryEtaMessage('eta.past', 'eta-2', '2020-01-01T00:00:00+00:00'));
    const before = Date.now() / 1000;
    await channel.basicGet('eta.past');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const score = Number(await fx.redis.zscore('unacked_index', 'eta-2'));
    expect(score).toBeGreaterThanOrEqual(before - 0.01);
    expect(score).toBeLessThan(before + 1);
  });
});
