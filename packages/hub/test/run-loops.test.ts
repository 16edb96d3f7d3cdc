import { afterEach, describe, expect, it, vi } from 'vitest';
import { Hub, HubError, ManualClock } from '../src/index.js';

const setup = () => {
  const clock = new ManualClock();
  const hub = new Hub({ clock });
  const log: string[] = [];
  return { clock, hub, log };
};

/** Lets a woken loop run: resolves after pending microtasks and one macrotask turn. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Hub.runForever', () => {
  it('fires a timer when the manual clock reaches it and resolves on stop', async () => {
    const { clock, hub, log } = setup();
    hub.callLater(100, () => log.push(`timer@${clock.now()}`));
    const run = hub.runForever();
    expect(hub.running).toBe(true);
    await flush();
    expect(log).toEqual([]);
    clock.advance(100);
    await flush();
    expect(log).toEqual(['timer@100']);
    hub.stop();
    await run;
    expect(hub.running).toBe(false);
  });

  it('wakes immediately on callSoon while sleeping with nothing scheduled', async () => {
    const { hub, log } = setup();
    const run = hub.runForever();
    await flush();
    hub.callSoon(() => log.push('soon'));
    await flush();
    expect(log).toEqual(['soon']);
    hub.stop();
    await run;
  });

  it('wakes immediately on notifyReadable and runs the reader', async () => {
    const { hub, log } = setup();
    const socket = { name: 'brpop-connection' };
    hub.addReader(socket, () => log.push('readable'));
    const run = hub.runForever();
    await flush();
    hub.notifyReadable(socket);
    await flush();
    expect(log).toEqual(['readable']);
    hub.stop();
    await run;
  });

  it('finishes the current iteration after stop() is called from a callback', async () => {
    const { hub, log } = setup();
    let iterations = 0;
    hub.onTick(() => {
      iterations++;
      hub.stop();
    });
    hub.callLater(0, () => log.push('timer in the same iteration'));
    await hub.runForever();
    expect(iterations).toBe(1);
    expect(log).toEqual(['timer in the same iteration']);
  });

  it('resolves when its signal aborts', async () => {
    const { hub } = setup();
    hub.callLater(60_000, () => {});
    const controller = new AbortController();
    const run = hub.runForever(controller.signal);
    await flush();
    controller.abort();
    await expect(run).resolves.toBeUndefined();
    expect(hub.running).toBe(false);
    expect(hub.timerCount).toBe(1);
  });

  it('resolves when the hub is closed', async () => {
    const { hub } = setup();
    hub.callRepeatedly(1000, () => {});
    const run = hub.runForever();
    await flush();
    hub.close();
    await run;
    expect(hub.running).toBe(false);
    expect(hub.timerCount).toBe(0);
  });

  it('rejects a second run while one is in progress', async () => {
    const { hub } = setup();
    const run = hub.runForever();
    await expect(hub.runForever()).rejects.toThrow(HubError);
    await expect(hub.runUntil(() => true)).rejects.toThrow(/already running/);
    hub.stop();
    await run;
  });

  it('keeps at most one setTimeout pending while sleeping and rescheduling', async () => {
    const { clock, hub } = setup();
    const pending = new Set<unknown>();
    const realSetTimeout = globalThis.setTimeout;
    const realClearTimeout = globalThis.clearTimeout;
    let maxPending = 0;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((cb: () => void, ms?: number) => {
      const handle: ReturnType<typeof setTimeout> = realSetTimeout(() => {
        pending.delete(handle);
        cb();
      }, ms);
      pending.add(handle);
      maxPending = Math.max(maxPending, pending.size);
      return handle;
    }) as typeof setTimeout);
    vi.spyOn(globalThis, 'clearTimeout').mockImplementation((handle) => {
      pending.delete(handle);
      realClearTimeout(handle);
    });
    hub.callRepeatedly(50, () => {});
    hub.callLater(500, () => {});
    const run = hub.runForever();
    for (let i = 0; i < 6; i++) {
      hub.callLater(25, () => {}); // earlier than the current sleep: re-arms the timeout
      clock.advance(30);
      await flush();
    }
    hub.stop();
    await run;
    expect(maxPending).toBe(1);
    expect(pending.size).toBe(0);
  });

  it('with the real clock, an earlier timer added during a long sleep wakes the loop on time', async () => {
    const hub = new Hub();
    const log: string[] = [];
    hub.callLater(60_000, () => log.push('far'));
    const run = hub.runForever();
    const started = performance.now();
    hub.callLater(20, () => {
      log.push('near');
      hub.stop();
    });
    await run;
    expect(log).toEqual(['near']);
    expect(performance.now() - started).toBeLessThan(2000);
    hub.close();
  });
});

describe('Hub.runUntil', () => {
  it('resolves true as soon as done() holds', async () => {
    const { clock, hub } = setup();
    let delivered = 0;
    hub.callLater(40, () => delivered++);
    const run = hub.runUntil(() => delivered > 0, { timeoutMs: 1000 });
    await flush();
    clock.advance(40);
    await expect(run).resolves.toBe(true);
    expect(delivered).toBe(1);
    expect(hub.running).toBe(false);
  });

  it('resolves true without an iteration when done() already holds', async () => {
    const { hub, log } = setup();
    hub.callSoon(() => log.push('soon'));
    await expect(hub.runUntil(() => true)).resolves.toBe(true);
    expect(log).toEqual([]);
  });

  it('resolves false once timeoutMs of clock time passed', async () => {
    const { clock, hub } = setup();
    const run = hub.runUntil(() => false, { timeoutMs: 500 });
    await flush();
    clock.advance(499);
    await flush();
    expect(hub.running).toBe(true);
    clock.advance(1);
    await expect(run).resolves.toBe(false);
  });

  it('runs exactly one iteration with timeoutMs 0', async () => {
    const { hub } = setup();
    let ticks = 0;
    hub.onTick(() => ticks++);
    await expect(hub.runUntil(() => false, { timeoutMs: 0 })).resolves.toBe(false);
    expect(ticks).toBe(1);
  });

  it('with the real clock, times out after roughly timeoutMs', async () => {
    const hub = new Hub();
    const started = performance.now();
    await expect(hub.runUntil(() => false, { timeoutMs: 30 })).resolves.toBe(false);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(29);
    expect(elapsed).toBeLessThan(2000);
  });

  it('rejects with the abort reason when its signal aborts', async () => {
    const { hub } = setup();
    const controller = new AbortController();
    const run = hub.runUntil(() => false, { signal: controller.signal });
    await flush();
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(hub.running).toBe(false);
  });

  it('resolves false when stopped', async () => {
    const { hub } = setup();
    const run = hub.runUntil(() => false);
    await flush();
    hub.stop();
    await expect(run).resolves.toBe(false);
  });

  it('rejects a negative timeoutMs with HubError', async () => {
    const { hub } = setup();
    await expect(hub.runUntil(() => false, { timeoutMs: -1 })).rejects.toThrow(HubError);
    expect(hub.running).toBe(false);
  });
});

describe('ManualClock', () => {
  it('moves monotonic and wall time together and refuses to go back', () => {
    const clock = new ManualClock({ now: 10, wallNow: 1_000_000 });
    clock.advance(5);
    expect([clock.now(), clock.wallNow()]).toEqual([15, 1_000_005]);
    expect(() => clock.advance(-1)).toThrow(HubError);
    expect(clock.now()).toBe(15);
  });
});

describe('Hub.onStop', () => {
  it('runs after every runUntil/runForever return, not running any more, until removed', async () => {
    const { hub, log } = setup();
    const remove = hub.onStop(() => log.push(`stop running=${String(hub.running)}`));
    await hub.runUntil(() => true);
    const forever = hub.runForever();
    await flush();
    hub.stop();
    await forever;
    remove();
    await hub.runUntil(() => true);
    expect(log).toEqual(['stop running=false', 'stop running=false']);
  });

  it('reports a throwing stop callback as a hub error with context "stop"', async () => {
    const { hub } = setup();
    const seen: unknown[] = [];
    hub.on('error', (_error, context) => seen.push(context));
    hub.onStop(() => {
      throw new Error('boom');
    });
    await hub.runUntil(() => true);
    expect([seen, hub.errorCount]).toEqual([['stop'], 1]);
  });
});

describe('Hub.wake', () => {
  it('returns runUntil as soon as a promise a hub callback returned settles, long before its timeout', async () => {
    const hub = new Hub();
    let acked = 0;
    // Settled by a Node timer, not by the hub: nothing else would end the hub's sleep.
    hub.callSoon(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      acked++;
    });
    const started = performance.now();
    await expect(hub.runUntil(() => acked === 1, { timeoutMs: 5_000 })).resolves.toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('returns runUntil when something outside the hub settles and calls wake()', async () => {
    const hub = new Hub();
    let confirmed = false;
    void new Promise((resolve) => setTimeout(resolve, 20)).then(() => {
      confirmed = true;
      hub.wake();
    });
    const started = performance.now();
    await expect(hub.runUntil(() => confirmed, { timeoutMs: 5_000 })).resolves.toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('keeps runUntil sleeping when the predicate still does not hold', async () => {
    const { clock, hub } = setup();
    let checks = 0;
    const run = hub.runUntil(() => {
      checks++;
      return false;
    }, { timeoutMs: 100 });
    await flush();
    const before = checks;
    hub.wake();
    hub.wake();
    await flush();
    // The two wakes coalesce into one check, and the loop keeps sleeping.
    expect(checks).toBe(before + 1);
    expect(hub.running).toBe(true);
    clock.advance(100);
    await expect(run).resolves.toBe(false);
  });

  it('rejects runUntil with the error when the predicate throws on a wake', async () => {
    const { hub } = setup();
    let fail = false;
    const run = hub.runUntil(() => {
      if (fail) throw new Error('broken predicate');
      return false;
    });
    await flush();
    fail = true;
    hub.wake();
    await expect(run).rejects.toThrow('broken predicate');
  });
});
