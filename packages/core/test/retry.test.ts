import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbortedError, OperationalError } from '../src/errors.js';
import { retryIntervals, retryOver, sleep } from '../src/retry.js';

const take = (policy: Parameters<typeof retryIntervals>[0], n: number): number[] => {
  const out: number[] = [];
  for (const value of retryIntervals(policy)) {
    out.push(value);
    if (out.length === n) break;
  }
  return out;
};

describe('retryIntervals', () => {
  it('grows by the step up to intervalMax + intervalStart and then repeats (measured 2..30, 32, 32)', () => {
    expect(take({}, 19)).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 32, 32, 32]);
  });

  it('keeps fractional steps exact', () => {
    expect(take({ intervalStart: 0.2, intervalStep: 0.2, intervalMax: 1 }, 8)).toEqual([0.2, 0.4, 0.6, 0.8, 1, 1.2, 1.2, 1.2]);
  });

  it("follows Celery's publish retry policy (0, 0.2, ... up to 1)", () => {
    expect(take({ intervalStart: 0, intervalStep: 0.2, intervalMax: 1 }, 8)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1, 1, 1]);
  });

  it('repeats the start when the step is 0', () => {
    expect(take({ intervalStart: 1, intervalStep: 0, intervalMax: 1 }, 3)).toEqual([1, 1, 1]);
  });
});

describe('retryOver', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('makes maxRetries + 1 attempts with one errback per retry, then throws OperationalError', async () => {
    const attempts: number[] = [];
    const errbacks: number[] = [];
    const cause = new Error('refused');
    const run = retryOver(
      async (attempt) => {
        attempts.push(attempt);
        throw cause;
      },
      {
        isRetryable: () => true,
        policy: { maxRetries: 3, intervalStart: 0.2, intervalStep: 0.2 },
        onError: (_error, interval) => errbacks.push(interval),
        description: 'Connecting to redis://h',
      },
    );
    const settled = run.catch((error: unknown) => error);
    await vi.runAllTimersAsync();
    const error = await settled;
    expect(attempts).toEqual([0, 1, 2, 3]);
    expect(errbacks).toEqual([0.2, 0.4, 0.6]);
    expect(error).toBeInstanceOf(OperationalError);
    expect((error as Error).message).toBe('Connecting to redis://h failed after 4 attempts: refused');
    expect((error as Error).cause).toBe(cause);
  });

  it('resolves with the value of the first successful attempt', async () => {
    let calls = 0;
    const run = retryOver(
      async () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
        return 'done';
      },
      { isRetryable: () => true, policy: { intervalStart: 1, intervalStep: 1 } },
    );
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(2000);
    await expect(run).resolves.toBe('done');
    expect(calls).toBe(3);
  });

  it('throws a non-retryable error at once, unwrapped', async () => {
    const boom = new TypeError('bug');
    let calls = 0;
    await expect(
      retryOver(
        async () => {
          calls++;
          throw boom;
        },
        { isRetryable: (error) => !(error instanceof TypeError) },
      ),
    ).rejects.toBe(boom);
    expect(calls).toBe(1);
  });

  it('stops retrying once the timeout has passed', async () => {
    let calls = 0;
    const run = retryOver(
      async () => {
        calls++;
        throw new Error('down');
      },
      { isRetryable: () => true, policy: { intervalStart: 1, intervalStep: 0, timeout: 2.5 } },
    ).catch((error: unknown) => error);
    await vi.runAllTimersAsync();
    const error = (await run) as Error;
    expect(error).toBeInstanceOf(OperationalError);
    expect(error.message).toMatch(/timed out after 2.5s/);
    // Attempts at 0 s, 1 s, 2 s and 2.5 s (the last sleep is cut to the deadline).
    expect(calls).toBe(4);
  });

  it('rejects with AbortedError when the signal aborts during a sleep', async () => {
    const controller = new AbortController();
    const run = retryOver(
      async () => {
        throw new Error('down');
      },
      { isRetryable: () => true, signal: controller.signal },
    ).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(500);
    controller.abort();
    expect(await run).toBeInstanceOf(AbortedError);
  });
});

describe('sleep', () => {
  it('rejects immediately for an already aborted signal', async () => {
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(AbortedError);
  });
});
