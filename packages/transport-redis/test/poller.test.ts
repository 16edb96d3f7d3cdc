import type { EventLoopHub, VirtualChannel } from '@kelp/virtual';
import { describe, expect, it } from 'vitest';
import { MultiChannelPoller } from '../src/poller.js';

function fakeHub(): EventLoopHub & { soon: (() => void)[]; repeated: { ms: number; cb: () => void }[] } {
  const hub = {
    soon: [] as (() => void)[],
    repeated: [] as { ms: number; cb: () => void }[],
    onTick: () => () => undefined,
    callSoon(cb: () => void) {
      hub.soon.push(cb);
      return { cancel: () => undefined };
    },
    callRepeatedly(ms: number, cb: () => void) {
      hub.repeated.push({ ms, cb });
      return { cancel: () => undefined };
    },
    addReader: () => undefined,
    removeReader: () => undefined,
    notifyReadable: () => undefined,
  };
  return hub;
}

function poller(throttle: number, calls: number[]) {
  let n = 0;
  const channel = { state: 'open', restoreVisible: async () => (calls.push(++n), 0) } as unknown as VirtualChannel;
  const hub = fakeHub();
  const p = new MultiChannelPoller(
    {
      restoreIntervalMs: 10_000,
      restoreThrottle: throttle,
      healthCheckIntervalMs: 25_000,
      channelPollers: () => [],
      checkSharedHealth: () => undefined,
      pollerOf: () => undefined,
      queueFromKey: (key) => key,
      openChannels: () => [channel],
      reportError: () => undefined,
    },
    hub,
  );
  return { p, hub };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('MultiChannelPoller', () => {
  it('registers the restore timer every unackedRestoreInterval and the health check every healthCheckInterval', () => {
    const { p, hub } = poller(10, []);
    p.start();
    expect(hub.repeated.map((t) => t.ms)).toEqual([10_000, 25_000]);
  });

  it('scans only on calls 1, N+1, 2N+1 (Kombu throttle, here N = 3)', async () => {
    const calls: number[] = [];
    const { p } = poller(3, calls);
    const seen: number[] = [];
    for (let call = 1; call <= 7; call++) {
      const before = calls.length;
      p.maybeRestoreMessages();
      await settle();
      if (calls.length > before) seen.push(call);
    }
    expect(seen).toEqual([1, 4, 7]);
  });

  it('scans on every call when the throttle is 0', async () => {
    const calls: number[] = [];
    const { p } = poller(0, calls);
    for (let i = 0; i < 3; i++) {
      p.maybeRestoreMessages();
      await settle();
    }
    expect(calls).toEqual([1, 2, 3]);
  });

  it('runs the startup scan from the hub as soon as it starts', async () => {
    const calls: number[] = [];
    const { p, hub } = poller(10, calls);
    p.start();
    for (const cb of hub.soon) cb();
    await settle();
    expect(calls).toEqual([1]);
  });
});
