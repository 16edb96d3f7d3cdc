import { describe, expect, it } from 'vitest';
import { Hub, HubError, ManualClock } from '../src/index.js';

const setup = (maxTimersPerTick?: number) => {
  const clock = new ManualClock();
  const hub = new Hub(maxTimersPerTick === undefined ? { clock } : { clock, maxTimersPerTick });
  const log: string[] = [];
  return { clock, hub, log };
};

describe('Hub timers', () => {
  it('fires callLater timers only once their delay has passed, in deadline order', () => {
    const { clock, hub, log } = setup();
    hub.callLater(200, () => log.push('b'));
    hub.callLater(100, () => log.push('a'));
    expect(hub.runOnce()).toBe(100);
    expect(log).toEqual([]);
    clock.advance(100);
    expect(hub.runOnce()).toBe(100);
    expect(log).toEqual(['a']);
    clock.advance(100);
    expect(hub.runOnce()).toBe(Infinity);
    expect(log).toEqual(['a', 'b']);
  });

  it('fires timers with equal deadlines in the order they were scheduled', () => {
    const { clock, hub, log } = setup();
    for (const id of ['t1', 't2', 't3', 't4']) hub.callLater(50, () => log.push(id));
    hub.callAt(50, () => log.push('t5'));
    clock.advance(50);
    hub.runOnce();
    expect(log).toEqual(['t1', 't2', 't3', 't4', 't5']);
  });

  it('callAt with a Date converts wall-clock time through the clock', () => {
    const clock = new ManualClock({ now: 1000, wallNow: Date.UTC(2030, 0, 1) });
    const hub = new Hub({ clock });
    const log: string[] = [];
    hub.callAt(new Date(Date.UTC(2030, 0, 1) + 250), () => log.push('wall'));
    expect(hub.runOnce()).toBe(250);
    clock.advance(249);
    hub.runOnce();
    expect(log).toEqual([]);
    clock.advance(1);
    hub.runOnce();
    expect(log).toEqual(['wall']);
  });

  it('callAt with a time in the past fires in the next iteration', () => {
    const { clock, hub, log } = setup();
    clock.advance(500);
    hub.callAt(10, () => log.push('late'));
    expect(hub.runOnce()).toBe(Infinity);
    expect(log).toEqual(['late']);
  });

  it('a cancelled timer never fires and leaves the heap', () => {
    const { clock, hub, log } = setup();
    const keep = hub.callLater(10, () => log.push('keep'));
    const drop = hub.callLater(10, () => log.push('drop'));
    drop.cancel();
    expect(drop.cancelled).toBe(true);
    expect(keep.cancelled).toBe(false);
    expect(hub.timerCount).toBe(1);
    clock.advance(10);
    hub.runOnce();
    expect(log).toEqual(['keep']);
  });

  it('a timer can cancel a later timer due in the same iteration', () => {
    const { clock, hub, log } = setup();
    const handles: { cancel(): void }[] = [];
    hub.callLater(5, () => {
      log.push('first');
      handles[0]?.cancel();
    });
    handles.push(hub.callLater(5, () => log.push('second')));
    clock.advance(5);
    hub.runOnce();
    expect(log).toEqual(['first']);
  });

  it('fires at most maxTimersPerTick timers per iteration and the rest in the next one', () => {
    const { clock, hub, log } = setup(3);
    for (let i = 0; i < 7; i++) hub.callLater(1, () => log.push(`t${i}`));
    clock.advance(1);
    expect(hub.runOnce()).toBe(0);
    expect(log).toEqual(['t0', 't1', 't2']);
    hub.runOnce();
    expect(log).toHaveLength(6);
    expect(hub.runOnce()).toBe(Infinity);
    expect(log).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6']);
  });

  it('fires 10 timers per iteration by default', () => {
    const { clock, hub, log } = setup();
    for (let i = 0; i < 12; i++) hub.callLater(0, () => log.push(`t${i}`));
    clock.advance(0);
    hub.runOnce();
    expect(log).toHaveLength(10);
    hub.runOnce();
    expect(log).toHaveLength(12);
  });

  it('a zero-delay timer scheduled by a timer runs in the next iteration, not the current one', () => {
    const { hub, log } = setup();
    hub.callLater(0, () => {
      log.push('outer');
      hub.callLater(0, () => log.push('inner'));
    });
    expect(hub.runOnce()).toBe(0);
    expect(log).toEqual(['outer']);
    hub.runOnce();
    expect(log).toEqual(['outer', 'inner']);
  });

  it('rejects invalid delays and options with HubError', () => {
    const { hub } = setup();
    expect(() => hub.callLater(Number.NaN, () => {})).toThrow(HubError);
    expect(() => hub.callAt(new Date('nope'), () => {})).toThrow(/valid Date/);
    expect(() => hub.callRepeatedly(0, () => {})).toThrow(/interval > 0/);
    expect(() => new Hub({ maxTimersPerTick: 0 })).toThrow(/maxTimersPerTick/);
    expect(hub.timerCount).toBe(0);
  });
});

describe('Hub.callRepeatedly', () => {
  it('first runs after one interval, then every interval', () => {
    const { clock, hub } = setup();
    const runs: number[] = [];
    hub.callRepeatedly(100, () => runs.push(clock.now()));
    for (let t = 0; t < 5; t++) {
      clock.advance(50);
      hub.runOnce();
    }
    expect(runs).toEqual([100, 200]);
  });

  it('after a late run it reschedules from that run, without catch-up runs', () => {
    const { clock, hub } = setup();
    const runs: number[] = [];
    hub.callRepeatedly(100, () => runs.push(clock.now()));
    clock.advance(350);
    hub.runOnce();
    expect(runs).toEqual([350]);
    expect(hub.runOnce()).toBe(100);
    clock.advance(100);
    hub.runOnce();
    expect(runs).toEqual([350, 450]);
  });

  it('measures the next interval from the start of a run, not from the end of a slow callback', () => {
    const { clock, hub } = setup();
    const runs: number[] = [];
    hub.callRepeatedly(100, () => {
      runs.push(clock.now());
      clock.advance(30); // the callback itself takes 30 ms
    });
    clock.advance(100);
    hub.runOnce();
    expect(hub.runOnce()).toBe(70);
    clock.advance(70);
    hub.runOnce();
    expect(runs).toEqual([100, 200]);
  });

  it('stops when cancelled from inside its own callback', () => {
    const { clock, hub } = setup();
    let runs = 0;
    const handle = hub.callRepeatedly(10, () => {
      runs++;
      if (runs === 2) handle.cancel();
    });
    for (let i = 0; i < 5; i++) {
      clock.advance(10);
      hub.runOnce();
    }
    expect(runs).toBe(2);
    expect(handle.cancelled).toBe(true);
    expect(hub.timerCount).toBe(0);
  });

  it('stops when cancelled from outside between runs', () => {
    const { clock, hub } = setup();
    let runs = 0;
    const handle = hub.callRepeatedly(10, () => runs++);
    clock.advance(10);
    hub.runOnce();
    handle.cancel();
    clock.advance(100);
    expect(hub.runOnce()).toBe(Infinity);
    expect(runs).toBe(1);
  });

  it('keeps repeating after its callback throws', () => {
    const { clock, hub } = setup();
    let runs = 0;
    hub.callRepeatedly(10, () => {
      runs++;
      throw new Error(`boom ${runs}`);
    });
    for (let i = 0; i < 3; i++) {
      clock.advance(10);
      hub.runOnce();
    }
    expect(runs).toBe(3);
    expect(hub.errorCount).toBe(3);
    expect((hub.lastError as Error).message).toBe('boom 3');
  });
});
