import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, setLongTimeout } from '../src/long-timeout.js';
import { runWithLimits } from '../src/task-runner.js';

const DAY = 86_400_000;

afterEach(() => {
  vi.useRealTimers();
});

describe('setLongTimeout', () => {
  it('fires a 30-day timer after 30 days, not at once as setTimeout does past 2^31-1 ms', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    setLongTimeout(fired, 30 * DAY);
    vi.advanceTimersByTime(1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(30 * DAY - MAX_TIMER_MS - 2);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(60 * DAY);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('is cancelled by clear(), before and after its first hop', () => {
    vi.useFakeTimers();
    const early = vi.fn();
    const late = vi.fn();
    setLongTimeout(early, 40 * DAY).clear();
    const timer = setLongTimeout(late, 40 * DAY);
    vi.advanceTimersByTime(26 * DAY);
    timer.clear();
    vi.advanceTimersByTime(30 * DAY);
    expect(early).not.toHaveBeenCalled();
    expect(late).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fires short and negative delays as setTimeout does', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    setLongTimeout(fired, -5);
    setLongTimeout(fired, 10);
    vi.advanceTimersByTime(0);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10);
    expect(fired).toHaveBeenCalledTimes(2);
  });
});

describe('runWithLimits', () => {
  it('does not hit a 30-day hard or soft time limit at once', async () => {
    vi.useFakeTimers();
    let signal: AbortSignal | undefined;
    const outcome = runWithLimits(
      (s) => {
        signal = s;
        return new Promise((resolve) => setTimeout(() => resolve('done'), 1_000));
      },
      { timeLimit: 30 * 86_400, softTimeLimit: 30 * 86_400 },
      new AbortController().signal,
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await outcome).toEqual({ ok: true, value: 'done' });
    expect(signal?.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
