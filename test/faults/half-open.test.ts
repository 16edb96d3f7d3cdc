/**
 * Broken links through a loopback proxy (issue 4, item 4). Resets: every socket gets an RST, twice,
 * mid-stream. Half-open: the proxy stops forwarding for 4 s without closing anything, so no FIN,
 * no RST, no error: only a watchdog on the polls or a health check can notice. Either way the
 * consumers must drop the dead sockets, reconnect and resume; publishes in between succeed or
 * reject with OperationalError and never hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACKS_ACCOUNTED, ackAccounting, reportOutage, runOutage } from './support/outage.js';
import { FaultProxy } from './support/proxy.js';
import { sleep } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';

let redis: FaultRedis;
let proxy: FaultProxy;
beforeAll(async () => {
  redis = await FaultRedis.start();
  proxy = await FaultProxy.start({ port: redis.port });
});
afterAll(async () => {
  await proxy?.close();
  await redis?.stop();
});

describe('connection resets through the proxy', () => {
  it('reconnects after every socket is reset twice mid-stream and loses nothing', { timeout: 60_000 }, async () => {
    const result = await runOutage({
      url: proxy.url(1),
      admin: () => redis.admin(1),
      queue: 'reset-q',
      total: 1000,
      gapMs: 10,
      faultAt: 250,
      inject: async () => {
        proxy.dropAll();
        await sleep(700);
        proxy.dropAll();
      },
      transportOptions: { visibility_timeout: 2, unacked_restore_interval: 0.5, unacked_restore_throttle: 1, socket_timeout: 2 },
    });
    reportOutage('socket-reset', result);
    expect(result.tally.other).toEqual([]);
    expect(result.tally.hung).toEqual([]);
    // Two resets.
    expect(ackAccounting(result, 2)).toEqual(ACKS_ACCOUNTED);
    expect(result.strandedIds.slice(0, 20)).toEqual([]);
    expect(result.resumeMs as number).toBeLessThan(5_000);
    expect(result.events.connectionLost).toBeGreaterThanOrEqual(1);
    expect(result.events.reconnected).toBeGreaterThanOrEqual(1);
  });
});

describe('half-open socket through the proxy', () => {
  it('reconnects, resumes within 10 s of the link coming back, and loses nothing', { timeout: 90_000 }, async () => {
    const acceptedBefore = proxy.accepted;
    const result = await runOutage({
      url: proxy.url(0),
      admin: () => redis.admin(),
      queue: 'half-open-q',
      total: 1200,
      gapMs: 15,
      faultAt: 300,
      inject: async () => {
        proxy.pause();
        await sleep(4_000);
        proxy.resume();
      },
      // What a user sets to survive silent links (Kombu's options of the same names).
      transportOptions: {
        visibility_timeout: 3,
        unacked_restore_interval: 0.5,
        unacked_restore_throttle: 1,
        socket_timeout: 2,
        health_check_interval: 1,
      },
      settleMs: 25_000,
    });
    reportOutage('half-open', result, {
      newConnections: proxy.accepted - acceptedBefore,
    });
    if (result.resumeMs === undefined || result.lostIds.length > 0) {
      console.log(`[faults] half-open detail: ${JSON.stringify({ errors: [...new Set(result.events.errors)].slice(0, 8), openConnections: proxy.openConnections })}`);
    }
    expect(result.tally.other).toEqual([]);
    expect(result.tally.hung).toEqual([]);
    expect(ackAccounting(result, 1)).toEqual(ACKS_ACCOUNTED);
    expect(result.strandedIds.slice(0, 20)).toEqual([]);
    expect({ settled: result.settled, waiting: result.waiting, unacked: result.unacked }).toEqual({ settled: true, waiting: 0, unacked: 0 });
    expect(result.resumeMs as number).toBeLessThan(10_000);
    expect(result.events.connectionLost).toBeGreaterThanOrEqual(1);
    expect(result.events.reconnected).toBeGreaterThanOrEqual(1);
  });
});
