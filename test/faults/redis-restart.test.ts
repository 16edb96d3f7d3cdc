/**
 * Redis restarted mid-stream (issue 4, item 4): SIGKILL of an AOF server (`appendfsync always`),
 * 4 s down (longer than the publish retry budget, so both outcomes occur), back on the same port. Consumers reconnect with backoff and resume within a few
 * seconds; every publish either succeeded (and its message is acked) or rejected with
 * OperationalError; none hangs, none is dropped silently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACKS_ACCOUNTED, ackAccounting, reportOutage, runOutage } from './support/outage.js';
import { FaultProxy } from './support/proxy.js';
import { FaultRedis } from './support/redis-process.js';

const median = (values: number[]): number | string =>
  values.length === 0 ? 'n/a' : ([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number);

let redis: FaultRedis;
let proxy: FaultProxy;
let producerProxy: FaultProxy;
beforeAll(async () => {
  redis = await FaultRedis.start({ aof: true });
  // Only to count connection attempts while the server is down (the proxies refuse them by closing).
  proxy = await FaultProxy.start({ port: redis.port });
  producerProxy = await FaultProxy.start({ port: redis.port });
});
afterAll(async () => {
  await proxy?.close();
  await producerProxy?.close();
  await redis?.stop();
});

describe('redis-server restarted mid-stream', () => {
  it('loses no acknowledged publish, and consumers resume within 5 s of the restart', { timeout: 90_000 }, async () => {
    let downFor = 0;
    let window = { from: 0, to: 0 };
    const result = await runOutage({
      url: proxy.url(0),
      producerUrl: producerProxy.url(0),
      admin: () => redis.admin(),
      queue: 'restart-q',
      total: 1500,
      gapMs: 12,
      faultAt: 400,
      inject: async () => {
        const { downAt, upAt } = await redis.restart(4_000);
        downFor = upAt - downAt;
        window = { from: downAt, to: upAt };
      },
      // Longer than the outage, so a failed ack can be looked up after the restart before any
      // restore may have moved its entry.
      transportOptions: { visibility_timeout: 6, unacked_restore_interval: 0.5, unacked_restore_throttle: 1 },
    });
    const attemptsWhileDown = proxy.acceptedAt.filter((t) => t >= window.from && t <= window.to).length;
    const producerAttemptsWhileDown = producerProxy.acceptedAt.filter((t) => t >= window.from && t <= window.to).length;
    reportOutage('redis-restart', result, {
      rejectedButDelivered: result.failedButDelivered,
      medianRejectMs: median(result.tally.operationalMs),
      slowestPublishMs: result.tally.slowestMs,
      hungStartedMsAfterFault: result.tally.hungStartedAt.map((t) => t - result.faultWindow.from).join(',') || 'none',
      producerState: result.producerState,
      downMs: downFor,
      consumerConnectAttemptsWhileDown: attemptsWhileDown,
      producerConnectAttemptsWhileDown: producerAttemptsWhileDown,
    });
    expect(result.tally.other).toEqual([]);
    expect(result.tally.hung).toEqual([]);
    expect(result.tally.ok.length + result.tally.operational.length).toBe(1500);
    // Down longer than the publish retry budget: some publishes were rejected, and only after the
    // retry policy (3 retries, 0.2 s + 0.3 s steps) spent over a second on them.
    expect(result.tally.operational.length).toBeGreaterThan(0);
    expect(median(result.tally.operationalMs)).toBeGreaterThanOrEqual(1_000);
    expect(ackAccounting(result, 1)).toEqual(ACKS_ACCOUNTED);
    expect(result.strandedIds.slice(0, 20)).toEqual([]);
    expect({ settled: result.settled, waiting: result.waiting, unacked: result.unacked }).toEqual({ settled: true, waiting: 0, unacked: 0 });
    expect(result.resumeMs).toBeDefined();
    expect(result.resumeMs as number).toBeLessThan(5_000);
    expect(result.events.connectionLost).toBeGreaterThanOrEqual(1);
    // Reconnects back off: two consumer connections (a few Redis clients each) and one producer
    // retrying for 4 s make tens of attempts, not a hot loop of hundreds.
    expect(attemptsWhileDown).toBeGreaterThan(0);
    expect(attemptsWhileDown).toBeLessThan(200);
    expect(producerAttemptsWhileDown).toBeLessThan(200);
    expect(result.events.reconnected).toBeGreaterThanOrEqual(1);
  });
});
