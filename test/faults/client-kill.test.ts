/**
 * CLIENT KILL of every kelp connection, three times mid-stream (issue 4, item 4): consumers
 * reconnect and resume, publishes succeed or reject with OperationalError, nothing is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACKS_ACCOUNTED, ackAccounting, reportOutage, runOutage } from './support/outage.js';
import { sleep } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';

let redis: FaultRedis;
beforeAll(async () => {
  redis = await FaultRedis.start();
});
afterAll(() => redis?.stop());

describe('CLIENT KILL of the consumers and producer connections', () => {
  it('loses nothing and resumes consuming within 5 s of the last kill', { timeout: 90_000 }, async () => {
    const killer = redis.admin();
    let killed = 0;
    const result = await runOutage({
      url: redis.url(0),
      admin: () => redis.admin(),
      queue: 'kill-q',
      total: 1500,
      gapMs: 10,
      faultAt: 300,
      inject: async () => {
        for (let i = 0; i < 3; i++) {
          // Every normal and pub/sub client but the killer itself (blocking pops are 'normal').
          killed += Number(await killer.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
          killed += Number(await killer.client('KILL', 'TYPE', 'pubsub', 'SKIPME', 'yes'));
          await sleep(600);
        }
      },
      transportOptions: { visibility_timeout: 2, unacked_restore_interval: 0.5, unacked_restore_throttle: 1 },
    });
    reportOutage('client-kill', result, {
      clientsKilled: killed,
    });
    expect(killed).toBeGreaterThan(0);
    expect(result.tally.other).toEqual([]);
    expect(result.tally.hung).toEqual([]);
    expect(ackAccounting(result, 3)).toEqual(ACKS_ACCOUNTED);
    expect(result.strandedIds.slice(0, 20)).toEqual([]);
    expect({ settled: result.settled, waiting: result.waiting, unacked: result.unacked }).toEqual({ settled: true, waiting: 0, unacked: 0 });
    expect(result.resumeMs as number).toBeLessThan(5_000);
    expect(result.events.connectionLost).toBeGreaterThanOrEqual(1);
    expect(result.events.reconnected).toBeGreaterThanOrEqual(1);
  });
});
