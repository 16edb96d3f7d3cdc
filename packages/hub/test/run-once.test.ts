import { describe, expect, it } from 'vitest';
import { Hub, HubError, ManualClock, type HubErrorContext } from '../src/index.js';

const setup = () => {
  const clock = new ManualClock();
  const hub = new Hub({ clock });
  const log: string[] = [];
  return { clock, hub, log };
};

describe('Hub.runOnce', () => {
  it('runs the ready set, then ticks, then due timers, then readers', () => {
    const { hub, log } = setup();
    const source = { name: 'conn' };
    hub.addReader(source, () => log.push('reader'));
    hub.callLater(0, () => log.push('timer'));
    hub.onTick(() => log.push('tick'));
    hub.callSoon(() => log.push('soon'));
    hub.notifyReadable(source);
    expect(hub.runOnce()).toBe(Infinity);
    expect(log).toEqual(['soon', 'tick', 'timer', 'reader']);
  });

  it('returns 0 while callSoon work is pending and Infinity when nothing is scheduled', () => {
    const { hub, log } = setup();
    expect(hub.runOnce()).toBe(Infinity);
    hub.callSoon(() => {
      log.push('a');
      hub.callSoon(() => log.push('b'));
    });
    expect(hub.runOnce()).toBe(0);
    expect(log).toEqual(['a']);
    expect(hub.runOnce()).toBe(Infinity);
    expect(log).toEqual(['a', 'b']);
  });

  it('skips a cancelled callSoon callback', () => {
    const { hub, log } = setup();
    hub.callSoon(() => log.push('kept'));
    const handle = hub.callSoon(() => log.push('cancelled'));
    handle.cancel();
    hub.runOnce();
    expect(log).toEqual(['kept']);
    expect(handle.cancelled).toBe(true);
  });

  it('runs tick callbacks every iteration until removed, and a tick may remove itself', () => {
    const { hub, log } = setup();
    let selfRuns = 0;
    const removeSelf: () => void = hub.onTick(() => {
      selfRuns++;
      removeSelf();
    });
    const removeSteady = hub.onTick(() => log.push('steady'));
    hub.runOnce();
    hub.runOnce();
    removeSteady();
    hub.runOnce();
    expect(selfRuns).toBe(1);
    expect(log).toEqual(['steady', 'steady']);
  });

  it('does not run a tick callback that an earlier tick removed in the same iteration', () => {
    const { hub, log } = setup();
    let removeSecond = (): void => {};
    hub.onTick(() => {
      log.push('first');
      removeSecond();
    });
    removeSecond = hub.onTick(() => log.push('second'));
    hub.runOnce();
    expect(log).toEqual(['first']);
  });

  it('refuses a nested runOnce from inside a callback', () => {
    const { hub } = setup();
    let nested: unknown;
    hub.callSoon(() => {
      try {
        hub.runOnce();
      } catch (error) {
        nested = error;
      }
    });
    hub.runOnce();
    expect(nested).toBeInstanceOf(HubError);
  });
});

describe('Hub readers', () => {
  it('runs the reader of a notified source once per iteration, with the source as argument', () => {
    const { hub } = setup();
    const source = { fd: 7 };
    const seen: object[] = [];
    hub.addReader(source, (s) => seen.push(s));
    hub.notifyReadable(source);
    hub.notifyReadable(source);
    expect(hub.runOnce()).toBe(Infinity);
    hub.runOnce();
    expect(seen).toEqual([source]);
    expect(seen[0]).toBe(source);
  });

  it('keys readers by object identity, not by value', () => {
    const { hub, log } = setup();
    const a = { id: 1 };
    const b = { id: 1 };
    hub.addReader(a, () => log.push('a'));
    hub.addReader(b, () => log.push('b'));
    hub.notifyReadable(b);
    hub.runOnce();
    expect(log).toEqual(['b']);
  });

  it('drops a notify for a source that has no reader', () => {
    const { hub, log } = setup();
    const source = {};
    hub.notifyReadable(source);
    expect(hub.runOnce()).toBe(Infinity);
    hub.addReader(source, () => log.push('late'));
    hub.runOnce();
    expect(log).toEqual([]);
  });

  it('does not run a reader removed after its source was notified', () => {
    const { hub, log } = setup();
    const first = {};
    const second = {};
    hub.addReader(first, () => {
      log.push('first');
      hub.removeReader(second);
    });
    hub.addReader(second, () => log.push('second'));
    hub.notifyReadable(first);
    hub.notifyReadable(second);
    hub.runOnce();
    expect(log).toEqual(['first']);
  });

  it('runs a notify made by a reader in the next iteration', () => {
    const { hub, log } = setup();
    const source = {};
    let count = 0;
    hub.addReader(source, () => {
      log.push(`read${++count}`);
      if (count === 1) hub.notifyReadable(source);
    });
    hub.notifyReadable(source);
    expect(hub.runOnce()).toBe(0);
    expect(log).toEqual(['read1']);
    hub.runOnce();
    expect(log).toEqual(['read1', 'read2']);
  });
});

describe('Hub error isolation', () => {
  it('emits a throwing callback as an error event with its context and goes on', () => {
    const { clock, hub, log } = setup();
    const errors: [string, HubErrorContext][] = [];
    hub.on('error', (error, context) => errors.push([(error as Error).message, context]));
    const source = {};
    hub.addReader(source, () => {
      throw new Error('r');
    });
    hub.callSoon(() => {
      throw new Error('s');
    });
    hub.onTick(() => {
      throw new Error('k');
    });
    hub.callLater(0, () => {
      throw new Error('t');
    });
    hub.callLater(0, () => log.push('after the failing timer'));
    hub.notifyReadable(source);
    clock.advance(0);
    hub.runOnce();
    expect(errors).toEqual([
      ['s', 'soon'],
      ['k', 'tick'],
      ['t', 'timer'],
      ['r', 'reader'],
    ]);
    expect(log).toEqual(['after the failing timer']);
    expect(hub.errorCount).toBe(4);
  });

  it('records the error in lastError and errorCount when nobody listens', () => {
    const { hub, log } = setup();
    const boom = new Error('nobody listens');
    hub.callSoon(() => {
      throw boom;
    });
    hub.callSoon(() => log.push('next'));
    hub.runOnce();
    expect(hub.lastError).toBe(boom);
    expect(hub.errorCount).toBe(1);
    expect(log).toEqual(['next']);
  });

  it('reports the rejection of an async callback', async () => {
    const { hub } = setup();
    const contexts: HubErrorContext[] = [];
    hub.on('error', (_error, context) => contexts.push(context));
    hub.callSoon(async () => {
      await Promise.resolve();
      throw new Error('async boom');
    });
    hub.runOnce();
    await new Promise((resolve) => setImmediate(resolve));
    expect(contexts).toEqual(['soon']);
    expect((hub.lastError as Error).message).toBe('async boom');
  });

  it('survives an error listener that throws', () => {
    const { hub, log } = setup();
    hub.on('error', () => {
      throw new Error('listener broke');
    });
    hub.callSoon(() => {
      throw new Error('callback broke');
    });
    hub.callSoon(() => log.push('still running'));
    hub.runOnce();
    expect(log).toEqual(['still running']);
    expect((hub.lastError as Error).message).toBe('listener broke');
    expect(hub.errorCount).toBe(2);
  });
});

describe('Hub.close', () => {
  it('cancels pending work, ticks and readers and marks the handles cancelled', () => {
    const { clock, hub, log } = setup();
    const soon = hub.callSoon(() => log.push('soon'));
    const later = hub.callLater(5, () => log.push('later'));
    const repeated = hub.callRepeatedly(5, () => log.push('repeated'));
    hub.onTick(() => log.push('tick'));
    const source = {};
    hub.addReader(source, () => log.push('reader'));
    hub.notifyReadable(source);
    hub.close();
    clock.advance(10);
    expect(hub.runOnce()).toBe(Infinity);
    expect(log).toEqual([]);
    expect([soon.cancelled, later.cancelled, repeated.cancelled]).toEqual([true, true, true]);
    expect(hub.timerCount).toBe(0);
  });

  it('stays usable after close', () => {
    const { hub, log } = setup();
    hub.close();
    hub.callSoon(() => log.push('after close'));
    hub.runOnce();
    expect(log).toEqual(['after close']);
  });
});
