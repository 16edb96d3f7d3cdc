import { afterEach, describe, expect, it, vi } from 'vitest';
import { Connection } from '../src/connection.js';
import { OperationalError } from '../src/errors.js';
import type { Channel } from '../src/transport.js';
import { FakeSocketError, fakeSetup, type FakeTransport } from './helpers/fake-transport.js';

afterEach(() => {
  vi.useRealTimers();
});

/** The publish retry policy the redis-restart fault test uses. */
const POLICY = { maxRetries: 3, intervalStart: 0.2, intervalStep: 0.3, intervalMax: 1 };

const publishOn = (channel: Channel, id: string) =>
  channel.basicPublish(
    { body: new TextEncoder().encode(id), contentType: 'text/plain', contentEncoding: 'utf-8', headers: {}, properties: {} },
    '',
    'q',
  );

interface Outcome {
  id: string;
  ok: boolean;
  ms: number;
}

/** Starts `n` concurrent ensure() publishes and records how each settled and when (fake clock). */
function publishConcurrently(conn: Connection, n: number, intervals?: number[]): Promise<Outcome[]> {
  const started = Date.now();
  return Promise.all(
    Array.from({ length: n }, (_unused, index) => {
      const id = `m${index}`;
      return conn
        .ensure((channel) => publishOn(channel, id), { ...POLICY, onError: (_e, interval) => intervals?.push(interval) })
        .then(
          () => ({ id, ok: true, ms: Date.now() - started }),
          (error: unknown) => {
            if (!(error instanceof OperationalError)) throw error;
            return { id, ok: false, ms: Date.now() - started };
          },
        );
    }),
  );
}

describe('Connection.ensure under concurrent failures', () => {
  it('shares one reconnect among 20 failed publishes: 3 connect attempts, not one per publish', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.connect();
    broker.failPublishes = 20;
    broker.failConnects = 2;
    const outcomes = publishConcurrently(conn, 20);
    await vi.runAllTimersAsync();
    const settled = await outcomes;
    expect(settled.filter((o) => o.ok)).toHaveLength(20);
    expect(broker.attempts).toHaveLength(1 + 3);
    expect(broker.published.map((p) => p.body).sort()).toEqual(Array.from({ length: 20 }, (_u, i) => `m${i}`).sort());
    await conn.close();
  });

  it('follows the policy sleeps (0.2 s then 0.5 s) before the shared reconnect succeeds', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.connect();
    broker.failPublishes = 4;
    broker.failConnects = 2;
    const intervals: number[] = [];
    const outcomes = publishConcurrently(conn, 4, intervals);
    await vi.runAllTimersAsync();
    expect((await outcomes).map((o) => o.ms)).toEqual([700, 700, 700, 700]);
    // Each publish: errback(error, 0) for its failure, then 0.2 and 0.5 for the two refused connects.
    expect(intervals.sort()).toEqual([0, 0, 0, 0, 0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 0.5, 0.5]);
    await conn.close();
  });

  it('rejects every publish with OperationalError after the whole policy (1.5 s) when the broker stays down', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.connect();
    broker.failPublishes = 1000;
    broker.failConnects = 1000;
    const outcomes = publishConcurrently(conn, 30);
    await vi.runAllTimersAsync();
    const settled = await outcomes;
    expect(settled.map((o) => `${o.ok}@${o.ms}`)).toEqual(Array.from({ length: 30 }, () => 'false@1500'));
    // The first connect, then maxRetries + 1 shared attempts.
    expect(broker.attempts).toHaveLength(1 + 4);
    await conn.close();
  });

  it('retries a connect failure met while getting the channel under the policy instead of failing at once', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    broker.failConnects = 2;
    const conn = new Connection('fake://h:1/', { registry });
    const intervals: number[] = [];
    const started = Date.now();
    const result = conn.ensure((channel) => publishOn(channel, 'first'), { ...POLICY, onError: (_e, interval) => intervals.push(interval) });
    await vi.runAllTimersAsync();
    await result;
    expect([Date.now() - started, broker.attempts.length, broker.published.length]).toEqual([700, 3, 1]);
    expect(intervals).toEqual([0.2, 0.5]);
    await conn.close();
  });

  it('does not drop the transport another publish already reconnected when its own failure comes late', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.connect();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let lateCalls = 0;
    const late = conn.ensure(async (channel) => {
      if (++lateCalls === 1) {
        await gate;
        throw new FakeSocketError('reset on the old transport');
      }
      return publishOn(channel, 'late');
    });
    let earlyCalls = 0;
    await conn.ensure(async (channel) => {
      if (++earlyCalls === 1) throw new FakeSocketError('reset');
      return publishOn(channel, 'early');
    });
    release();
    await late;
    const [first, second] = broker.transports as FakeTransport[];
    expect([broker.transports.length, first?.state, second?.state, broker.attempts.length]).toEqual([2, 'closed', 'connected', 2]);
    expect(broker.published.map((p) => p.body)).toEqual(['early', 'late']);
    await conn.close();
  });

  it('stops a pending reconnect loop when the connection is closed', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    broker.failConnects = 1000;
    const conn = new Connection('fake://h:1/', { registry });
    const result = conn.ensureConnection({ intervalStart: 1 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(500);
    await conn.close();
    await vi.advanceTimersByTimeAsync(5_000);
    const error = (await result) as Error;
    expect([error instanceof OperationalError, broker.attempts.length]).toEqual([true, 1]);
    expect(error.message).toContain('closed while connecting');
  });
});
