import { performance } from 'node:perf_hooks';
import { HubError } from './errors.js';

/**
 * The time source of a {@link Hub}. Timer deadlines are in this clock's milliseconds, so a test can
 * swap in a {@link ManualClock} and move time by hand instead of waiting.
 */
export interface Clock {
  /** Monotonic time in milliseconds. Never goes backwards. */
  now(): number;
  /**
   * Wall-clock time in milliseconds since the Unix epoch, used to turn a `Date` given to
   * `callAt` into clock time. Defaults to `Date.now()` when absent.
   */
  wallNow?(): number;
  /**
   * Subscribes to manual time changes. A clock that moves on its own (the system clock) leaves
   * this out; a manual clock implements it so that a sleeping hub wakes up when time is advanced.
   * Returns an unsubscribe function.
   */
  onAdvance?(listener: () => void): () => void;
}

/** The default clock: `performance.now()` for monotonic time and `Date.now()` for wall time. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

/** Options of {@link ManualClock}. */
export interface ManualClockOptions {
  /** Initial monotonic time in ms (default 0). */
  now?: number;
  /** Wall-clock time in ms since the epoch that corresponds to the initial `now` (default 2026-01-01T00:00:00Z). */
  wallNow?: number;
}

/**
 * A clock that only moves when told to. Use it in tests of anything that schedules timers on a Hub:
 * `clock.advance(ms)` then `hub.runOnce()` fires exactly the timers that became due.
 */
export class ManualClock implements Clock {
  #now: number;
  readonly #wallOffset: number;
  readonly #listeners = new Set<() => void>();

  /** Creates a manual clock, by default at monotonic time 0 and wall time 2026-01-01T00:00:00Z. */
  constructor(options: ManualClockOptions = {}) {
    this.#now = options.now ?? 0;
    this.#wallOffset = (options.wallNow ?? Date.UTC(2026, 0, 1)) - this.#now;
  }

  /** Current monotonic time in ms. */
  now(): number {
    return this.#now;
  }

  /** Current wall-clock time in ms since the epoch; moves together with {@link ManualClock.now}. */
  wallNow(): number {
    return this.#now + this.#wallOffset;
  }

  /**
   * Moves time forward by `ms` and notifies subscribers (a hub sleeping in `runForever` or
   * `runUntil` wakes up and fires what became due).
   * @throws HubError if `ms` is negative or not finite (a monotonic clock never goes back).
   */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new HubError(`ManualClock.advance(ms) needs a finite ms >= 0, got ${String(ms)}`);
    }
    this.#now += ms;
    for (const listener of [...this.#listeners]) listener();
  }

  /** Subscribes to {@link ManualClock.advance}; returns the unsubscribe function. */
  onAdvance(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
