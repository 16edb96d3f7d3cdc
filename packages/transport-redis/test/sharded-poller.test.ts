/**
 * ShardedPoller's fallback timer: a tick polls unless tracking covers every consumed queue, after
 * a failed poll whatever tracking says (the GenericPoller does not retry by itself), and covered,
 * once per COVERED_CHECK_MS (a slot moved away from the tracked master meets MOVED there).
 */
import { describe, expect, it } from 'vitest';
import type { EventLoopHub, HubTimer, PollerHost, VirtualChannel } from '@kelp/virtual';
import { COVERED_CHECK_MS, ShardedPoller } from '../src/sharded-poller.js';

const INTERVAL_MS = 1234;

/** A hub driven by hand: `tick()` runs what callSoon queued, then the tick callbacks; `fire()` the poll timer. */
class FakeHub implements EventLoopHub {
  private soon: (() => void)[] = [];
  private readonly ticks = new Set<() => void>();
  private readonly repeaters = new Map<number, () => void>();
  onTick(cb: () => void): () => void {
    this.ticks.add(cb);
    return () => this.ticks.delete(cb);
  }
  callSoon(cb: () => void): HubTimer {
    this.soon.push(cb);
    return { cancel: () => (this.soon = this.soon.filter((queued) => queued !== cb)) };
  }
  callRepeatedly(intervalMs: number, cb: () => void): HubTimer {
    this.repeaters.set(intervalMs, cb);
    return { cancel: () => this.repeaters.delete(intervalMs) };
  }
  addReader(): void {}
  removeReader(): void {}
  notifyReadable(): void {}
  fire(): void {
    this.repeaters.get(INTERVAL_MS)?.();
  }
  async tick(): Promise<void> {
    const soon = this.soon;
    this.soon = [];
    for (const cb of soon) cb();
    for (const cb of this.ticks) cb();
    // The poll (an async fetch) settles.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

function setUp(covered: () => boolean) {
  const hub = new FakeHub();
  const fetches: number[] = [];
  let failNext = false;
  const errors: unknown[] = [];
  const channel = {
    hasConsumers: true,
    state: 'open',
    qos: { capacity: () => 10 },
    fetch: (room: number) => {
      fetches.push(room);
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('pop failed'));
      }
      return Promise.resolve([]);
    },
    touchConsumedQueues: () => Promise.resolve(),
  } as unknown as VirtualChannel;
  const host: PollerHost = {
    capabilities: { visibilityTimeout: false },
    options: { unackedRestoreInterval: 10, pollBatchSize: 100 },
    openChannels: () => [channel],
    reportError: (error) => errors.push(error),
  };
  const poller = new ShardedPoller(host, hub, { pollIntervalMs: INTERVAL_MS, covered });
  return {
    hub,
    poller,
    fetches,
    errors,
    failNextFetch: () => (failNext = true),
  };
}

describe('ShardedPoller fallback timer', () => {
  it('polls on each tick of the timer while tracking does not cover every queue', async () => {
    const { hub, poller, fetches } = setUp(() => false);
    poller.start();
    await hub.tick();
    expect(fetches).toHaveLength(1);
    for (let n = 0; n < 3; n++) {
      hub.fire();
      await hub.tick();
    }
    expect(fetches).toHaveLength(4);
    poller.stop();
  });

  it('rests while covered, and polls at the next tick after a failed poll', async () => {
    const { hub, poller, fetches, errors, failNextFetch } = setUp(() => true);
    poller.start();
    await hub.tick();
    expect(fetches).toHaveLength(1);
    hub.fire();
    await hub.tick();
    expect(fetches, 'covered: the timer does not poll').toHaveLength(1);
    // A wake (an invalidation, say) polls, and that poll fails.
    failNextFetch();
    poller.wake();
    await hub.tick();
    expect(fetches).toHaveLength(2);
    expect(errors).toHaveLength(1);
    hub.fire();
    await hub.tick();
    expect(fetches, 'after a failure the timer polls although covered').toHaveLength(3);
    hub.fire();
    await hub.tick();
    expect(fetches, 'and rests again after a good poll').toHaveLength(3);
    poller.stop();
  });

  it('polls once per COVERED_CHECK_MS while covered', async () => {
    const { hub, poller, fetches } = setUp(() => true);
    poller.start();
    await hub.tick();
    const every = Math.ceil(COVERED_CHECK_MS / INTERVAL_MS);
    for (let n = 0; n < 3 * every; n++) {
      hub.fire();
      await hub.tick();
    }
    expect(fetches).toHaveLength(1 + 3);
    poller.stop();
  });
});
