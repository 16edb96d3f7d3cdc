import { describe, expect, it } from 'vitest';
import type { DelayedDelivery } from '../src/channel-storage.js';
import { DELAYED_MOVE_BATCH, DELAYED_SWEEP_INTERVAL_MS, DELAYED_WAKE_GAP_MS, DelayedMover } from '../src/delayed-mover.js';
import type { EventLoopHub } from '../src/event-loop-hub.js';

/** A hub whose timers run when the test says so, on a clock the test moves. */
function manualHub(clock: { now: number }) {
  const soon: (() => void)[] = [];
  const later: { at: number; cb: () => void; cancelled: boolean }[] = [];
  const repeated: { ms: number; cb: () => void }[] = [];
  const hub: EventLoopHub = {
    onTick: () => () => undefined,
    callSoon(cb) {
      soon.push(cb);
      return { cancel: () => undefined };
    },
    callRepeatedly(ms, cb) {
      repeated.push({ ms, cb });
      return { cancel: () => undefined };
    },
    callLater(ms, cb) {
      const timer = { at: clock.now + ms, cb, cancelled: false };
      later.push(timer);
      return { cancel: () => void (timer.cancelled = true) };
    },
    addReader: () => undefined,
    removeReader: () => undefined,
    notifyReadable: () => undefined,
  };
  return { hub, soon, later, repeated };
}

/** A store of due times; moveDue takes those due at `now`, at most `max`. */
function store(dues: number[]): DelayedDelivery & { calls: { now: number; max: number }[] } {
  const calls: { now: number; max: number }[] = [];
  return {
    calls,
    putDelayed: async () => undefined,
    moveDue: async (now, max) => {
      calls.push({ now, max });
      dues.sort((a, b) => a - b);
      const moved = dues.filter((due) => due <= now).slice(0, max);
      dues.splice(0, moved.length);
      return { moved: moved.length, nextDueAt: dues[0] };
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('DelayedMover', () => {
  it('runs at start and on the sweep interval, as the restore sweep does', () => {
    const clock = { now: 0 };
    const { hub, soon, repeated } = manualHub(clock);
    new DelayedMover({ delayedStorage: () => store([]), moved: () => undefined, reportError: () => undefined }, hub, () => clock.now).start();
    expect(soon).toHaveLength(1);
    expect(repeated.map((r) => r.ms)).toEqual([DELAYED_SWEEP_INTERVAL_MS]);
  });

  it('wakes at the next due time when it is nearer than the sweep interval, never before it', async () => {
    const clock = { now: 1_000 };
    const { hub, soon, later } = manualHub(clock);
    const storage = store([1_300, 5_000]);
    const mover = new DelayedMover({ delayedStorage: () => storage, moved: () => undefined, reportError: () => undefined }, hub, () => clock.now);
    mover.start();
    soon.shift()?.();
    await settle();
    expect(storage.calls).toEqual([{ now: 1_000, max: DELAYED_MOVE_BATCH }]);
    expect(later.map((t) => t.at)).toEqual([1_301]);
    clock.now = 1_301;
    later[0]?.cb();
    await settle();
    expect(storage.calls.at(-1)).toEqual({ now: 1_301, max: DELAYED_MOVE_BATCH });
    // 5,000 is further than one sweep away: the repeated sweep covers it.
    expect(later).toHaveLength(1);
  });

  it('follows a full batch with another at once', async () => {
    const clock = { now: 10_000 };
    const { hub, soon } = manualHub(clock);
    const storage = store(Array.from({ length: DELAYED_MOVE_BATCH + 3 }, (_, i) => i));
    let moves = 0;
    const mover = new DelayedMover({ delayedStorage: () => storage, moved: () => void moves++, reportError: () => undefined }, hub, () => clock.now);
    mover.start();
    soon.shift()?.();
    await settle();
    expect(soon).toHaveLength(1);
    soon.shift()?.();
    await settle();
    expect(storage.calls).toHaveLength(2);
    expect(moves).toBe(2);
    expect(soon).toHaveLength(0);
  });

  it('wakes for a message its own process stored due sooner than planned', () => {
    const clock = { now: 0 };
    const { hub, later } = manualHub(clock);
    const mover = new DelayedMover({ delayedStorage: () => store([]), moved: () => undefined, reportError: () => undefined }, hub, () => clock.now);
    mover.start();
    mover.dueAt(400);
    mover.dueAt(700);
    mover.dueAt(200);
    expect(later.filter((t) => !t.cancelled).map((t) => t.at)).toEqual([201]);
  });
});

describe('DelayedMover wake-ups', () => {
  it('batches due times a millisecond apart: no call sooner than the wake gap after the last', async () => {
    const clock = { now: 1_000 };
    const { hub, soon, later } = manualHub(clock);
    const storage = store([1_001, 1_002, 1_003]);
    const mover = new DelayedMover({ delayedStorage: () => storage, moved: () => undefined, reportError: () => undefined }, hub, () => clock.now);
    mover.start();
    soon.shift()?.();
    await settle();
    expect(later.map((t) => t.at)).toEqual([1_000 + DELAYED_WAKE_GAP_MS + 1]);
  });
});
