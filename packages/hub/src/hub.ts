import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from './clock.js';
import { HubError } from './errors.js';
import type { HubErrorContext, HubEvents } from './events.js';
import { Handle, isPromiseLike, TimerEntry, type ReadyItem, type TimerHandle } from './handles.js';
import { Sleeper } from './sleeper.js';
import { TimerHeap } from './timer-heap.js';

/** Options of {@link Hub}. */
export interface HubOptions {
  /** Time source (default: `performance.now()`); pass a `ManualClock` in tests. */
  clock?: Clock;
  /** Most timers fired per iteration (default 10, as Kombu); the rest fire in the next iteration. */
  maxTimersPerTick?: number;
}

/** Options of {@link Hub.runUntil}. */
export interface RunUntilOptions {
  /** Give up after this many clock milliseconds and resolve `false` (default: no limit). */
  timeoutMs?: number;
  /** Aborting rejects the run with `signal.reason`. */
  signal?: AbortSignal;
}

/** Callback of {@link Hub.addReader}; receives the source that became readable. */
export type ReaderCallback = (source: object) => void;

const DEFAULT_MAX_TIMERS_PER_TICK = 10;

/**
 * The event Hub, after `kombu.asynchronous.Hub`: a timer heap, a ready set, tick callbacks and
 * readiness callbacks, driven one iteration at a time by {@link Hub.runOnce} or continuously by
 * {@link Hub.runForever} / {@link Hub.runUntil}. Times are in milliseconds.
 *
 * An iteration runs, in order: the ready set (`callSoon`), every `onTick` callback, due timers
 * (at most `maxTimersPerTick`), then the readers of sources notified readable. Work scheduled by a
 * callback during an iteration runs in a later iteration, which keeps each iteration bounded.
 *
 * A callback that throws (or returns a promise that rejects) never stops the loop: the error is
 * recorded in {@link Hub.lastError} / {@link Hub.errorCount} and emitted as `'error'` when a listener exists.
 */
export class Hub extends EventEmitter<HubEvents> {
  readonly #clock: Clock;
  readonly #maxTimersPerTick: number;
  readonly #timers = new TimerHeap<TimerEntry>();
  #ready: ReadyItem[] = [];
  readonly #ticks = new Set<{ readonly cb: () => void }>();
  readonly #stops = new Set<{ readonly cb: () => void }>();
  readonly #readers = new Map<object, ReaderCallback>();
  #notified = new Set<object>();
  #seq = 0;
  #inIteration = false;
  #running = false;
  #stopRequested = false;
  readonly #sleeper: Sleeper;
  /** Set while `runUntil` sleeps: ends the sleep if its predicate holds now. */
  #recheck: (() => void) | undefined;
  #recheckQueued = false;
  #lastError: unknown = undefined;
  #errorCount = 0;

  /**
   * Creates a hub.
   * @throws HubError if `maxTimersPerTick` is not a positive integer.
   */
  constructor(options: HubOptions = {}) {
    super();
    const max = options.maxTimersPerTick ?? DEFAULT_MAX_TIMERS_PER_TICK;
    if (!Number.isInteger(max) || max < 1) {
      throw new HubError(`Hub option maxTimersPerTick must be a positive integer, got ${String(max)}`);
    }
    this.#clock = options.clock ?? systemClock;
    this.#maxTimersPerTick = max;
    this.#sleeper = new Sleeper(this.#clock);
  }

  /** The hub's clock; timer deadlines given to `callAt` as numbers are in its time. */
  get clock(): Clock {
    return this.#clock;
  }

  /** True while `runForever` or `runUntil` is in progress. */
  get running(): boolean {
    return this.#running;
  }

  /** The last error thrown by a callback (or by an 'error' listener), or undefined. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** How many callback errors were caught since the hub was created. */
  get errorCount(): number {
    return this.#errorCount;
  }

  /** Number of pending timers (one per repeated timer). Useful in tests and diagnostics. */
  get timerCount(): number {
    return this.#timers.size;
  }

  /** Runs `cb` in the next iteration, before tick callbacks and timers; wakes a sleeping loop. */
  callSoon(cb: () => void): TimerHandle {
    const handle = new Handle(() => {
      // The item stays in the ready array until the next iteration drains it; the flag skips it.
    });
    this.#ready.push({ cb, handle });
    this.#sleeper.wake();
    return handle;
  }

  /**
   * Runs `cb` once, `delayMs` clock milliseconds from now. A negative delay counts as 0.
   * @throws HubError if `delayMs` is NaN or infinite.
   */
  callLater(delayMs: number, cb: () => void): TimerHandle {
    if (!Number.isFinite(delayMs)) throw new HubError(`callLater(delayMs) needs a finite delay, got ${String(delayMs)}`);
    return this.#scheduleOnce(this.#clock.now() + Math.max(0, delayMs), cb);
  }

  /**
   * Runs `cb` once at `when`: a number is a time of the hub's clock, a `Date` is wall-clock time
   * (converted with the clock's `wallNow()`). A time in the past fires in the next iteration.
   * @throws HubError if `when` is NaN, infinite or an invalid Date.
   */
  callAt(when: number | Date, cb: () => void): TimerHandle {
    const at = when instanceof Date ? this.#fromWallClock(when) : when;
    if (!Number.isFinite(at)) throw new HubError(`callAt(when) needs a finite time or a valid Date, got ${String(when)}`);
    return this.#scheduleOnce(at, cb);
  }

  /**
   * Runs `cb` every `intervalMs`, with Kombu's `call_repeatedly` semantics: the first run comes
   * after one interval; when the timer fires, `cb` runs only if at least `intervalMs` passed since
   * its last run; either way the timer is rescheduled `intervalMs - (now - lastRun)` later, so a
   * late run does not cause a burst of catch-up runs. A throwing `cb` is still rescheduled.
   * @throws HubError if `intervalMs` is not a finite number > 0.
   */
  callRepeatedly(intervalMs: number, cb: () => void): TimerHandle {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw new HubError(`callRepeatedly(intervalMs) needs a finite interval > 0, got ${String(intervalMs)}`);
    }
    let lastRun: number | undefined;
    let current: TimerEntry | undefined;
    const handle = new Handle(() => {
      if (current !== undefined) this.#timers.remove(current);
    });
    const fire = (): void => {
      const now = this.#clock.now();
      const since = lastRun === undefined ? intervalMs : now - lastRun;
      try {
        if (since >= intervalMs) {
          lastRun = now;
          this.#invoke(cb, 'timer');
        }
      } finally {
        // Checked after the callback so that cancelling from inside it stops the repetition.
        if (!handle.cancelled) {
          const next = lastRun === undefined ? intervalMs : intervalMs - (now - lastRun);
          current = this.#push(now + next, fire, handle);
        }
      }
    };
    current = this.#push(this.#clock.now() + intervalMs, fire, handle);
    return handle;
  }

  /** Adds a callback run at the start of every iteration; returns a function that removes it. */
  onTick(cb: () => void): () => void {
    const entry = { cb };
    this.#ticks.add(entry);
    return () => {
      this.#ticks.delete(entry);
    };
  }

  /**
   * Adds a callback run each time a `runForever`/`runUntil` loop returns, so a source that keeps
   * work outstanding for the loop (a blocking wait) can end it while nobody runs the hub. Returns
   * a function that removes it.
   */
  onStop(cb: () => void): () => void {
    const entry = { cb };
    this.#stops.add(entry);
    return () => {
      this.#stops.delete(entry);
    };
  }

  /**
   * Registers `cb` as the reader of `source` (keyed by object identity; replaces an existing reader).
   * The reader runs once per iteration in which `source` was notified with {@link Hub.notifyReadable}.
   */
  addReader(source: object, cb: ReaderCallback): void {
    if (typeof source !== 'object' && typeof source !== 'function') {
      throw new HubError('addReader(source) needs an object as source (readers are keyed by identity)');
    }
    this.#readers.set(source, cb);
  }

  /** Unregisters the reader of `source` and drops a pending notification for it. */
  removeReader(source: object): void {
    this.#readers.delete(source);
    this.#notified.delete(source);
  }

  /**
   * Marks `source` readable: its reader runs in the next iteration (once, however many notifies
   * came before it) and a sleeping loop wakes up. A notify for a source without a reader is dropped.
   */
  notifyReadable(source: object): void {
    if (!this.#readers.has(source)) return;
    this.#notified.add(source);
    this.#sleeper.wake();
  }

  /**
   * Runs one iteration: ready set, tick callbacks, due timers, notified readers.
   * Returns the milliseconds until the next timer is due: 0 when work is already pending,
   * `Infinity` when nothing is scheduled.
   * @throws HubError if called from inside a hub callback (schedule with `callSoon` instead).
   */
  runOnce(): number {
    if (this.#inIteration) {
      throw new HubError('runOnce() was called from inside a hub callback; schedule the work with callSoon() instead');
    }
    this.#inIteration = true;
    try {
      this.#runReady();
      this.#runTicks();
      this.#runTimers();
      this.#runReaders();
    } finally {
      this.#inIteration = false;
    }
    return this.#nextDelay();
  }

  /**
   * Runs iterations until {@link Hub.stop} is called, the hub is closed, or `signal` aborts; all three
   * resolve the promise. Between iterations it sleeps until the next timer or a wake-up
   * (callSoon, notifyReadable, an earlier timer, stop). Its timer is not unref'd: a hub with pending
   * timers keeps the process alive, as a worker's loop should.
   * @throws HubError (as a rejection) if the hub is already running.
   */
  async runForever(signal?: AbortSignal): Promise<void> {
    this.#enterRun('runForever');
    try {
      const finished = (): boolean => this.#stopRequested || signal?.aborted === true;
      while (!finished()) {
        const delay = this.runOnce();
        if (finished()) break;
        await this.#sleeper.sleep(delay, signal);
      }
    } finally {
      this.#exitRun();
    }
  }

  /**
   * Runs iterations until `done()` returns true (resolves `true`) or `timeoutMs` clock milliseconds
   * pass (resolves `false`). `done()` is checked before the first iteration and after each one, so
   * `timeoutMs: 0` runs exactly one iteration. While it sleeps, {@link Hub.wake} (and the
   * settling of a promise a hub callback returned) re-checks `done()` without waiting for the
   * next timer or delivery. {@link Hub.stop} or {@link Hub.close} resolves `false`.
   * @throws the signal's reason (as a rejection) when `signal` aborts; HubError if already running.
   */
  async runUntil(done: () => boolean, options: RunUntilOptions = {}): Promise<boolean> {
    const { timeoutMs = Infinity, signal } = options;
    if (Number.isNaN(timeoutMs) || timeoutMs < 0) {
      throw new HubError(`runUntil option timeoutMs must be >= 0, got ${String(timeoutMs)}`);
    }
    signal?.throwIfAborted();
    this.#enterRun('runUntil');
    try {
      if (done()) return true;
      const deadline = this.#clock.now() + timeoutMs;
      const recheck = (): void => {
        let holds: boolean;
        try {
          holds = done();
        } catch {
          // Woken, the loop calls done() again and it throws from runUntil, not from a microtask.
          holds = true;
        }
        if (holds) this.#sleeper.wake();
      };
      for (;;) {
        const delay = this.runOnce();
        if (done()) return true;
        if (this.#stopRequested) return false;
        signal?.throwIfAborted();
        const remaining = deadline - this.#clock.now();
        if (remaining <= 0) return false;
        this.#recheck = recheck;
        try {
          await this.#sleeper.sleep(Math.min(delay, remaining), signal);
        } finally {
          this.#recheck = undefined;
        }
        signal?.throwIfAborted();
        if (done()) return true;
      }
    } finally {
      this.#exitRun();
    }
  }

  /**
   * Tells a sleeping `runUntil` that its predicate may hold now: something outside the hub's
   * callbacks settled (an ack confirmed by the broker, a promise resolved). The predicate is
   * checked once in a microtask, however many wakes came in this turn, and the loop returns
   * only if it holds; otherwise the sleep goes on. No effect when no `runUntil` is sleeping.
   * A promise returned by a hub callback wakes the hub this way when it settles.
   */
  wake(): void {
    if (this.#recheck === undefined || this.#recheckQueued) return;
    this.#recheckQueued = true;
    queueMicrotask(() => {
      this.#recheckQueued = false;
      this.#recheck?.();
    });
  }

  /** Makes a running `runForever`/`runUntil` return after the current iteration. No effect when not running. */
  stop(): void {
    if (!this.#running) return;
    this.#stopRequested = true;
    this.#sleeper.wake();
  }

  /**
   * Cancels everything: pending callSoon callbacks and timers (their handles report `cancelled`),
   * tick callbacks, readers and pending notifications; stops a running loop. The hub stays usable.
   */
  close(): void {
    for (const item of this.#ready) item.handle.markCancelled();
    this.#ready = [];
    for (const entry of this.#timers.clear()) entry.handle.markCancelled();
    this.#ticks.clear();
    this.#stops.clear();
    this.#readers.clear();
    this.#notified = new Set();
    this.stop();
  }

  /** Same as {@link Hub.close}, for `using hub = new Hub()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #enterRun(method: string): void {
    if (this.#running) {
      throw new HubError(`${method}() was called while the hub is already running; call stop() first or await the running loop`);
    }
    this.#running = true;
    this.#stopRequested = false;
  }

  #exitRun(): void {
    this.#running = false;
    this.#stopRequested = false;
    for (const entry of [...this.#stops]) this.#invoke(entry.cb, 'stop');
  }

  #fromWallClock(date: Date): number {
    const wallNow = this.#clock.wallNow?.() ?? Date.now();
    return this.#clock.now() + (date.getTime() - wallNow);
  }

  #scheduleOnce(when: number, cb: () => void): TimerHandle {
    let entry: TimerEntry | undefined;
    const handle = new Handle(() => {
      if (entry !== undefined) this.#timers.remove(entry);
    });
    entry = this.#push(when, () => this.#invoke(cb, 'timer'), handle);
    return handle;
  }

  #push(when: number, fire: () => void, handle: Handle): TimerEntry {
    const entry = new TimerEntry(when, this.#seq++, fire, handle);
    this.#timers.push(entry);
    // A loop sleeping until a later deadline must wake up to re-arm its sleep for this timer.
    this.#sleeper.wakeIfBefore(when);
    return entry;
  }

  #runReady(): void {
    if (this.#ready.length === 0) return;
    // Swap first: callbacks scheduled by these callbacks belong to the next iteration.
    const ready = this.#ready;
    this.#ready = [];
    for (const item of ready) {
      if (!item.handle.cancelled) this.#invoke(item.cb, 'soon');
    }
  }

  #runTicks(): void {
    // A copy, so a callback may remove itself; the membership check skips ones removed by others.
    for (const entry of [...this.#ticks]) {
      if (this.#ticks.has(entry)) this.#invoke(entry.cb, 'tick');
    }
  }

  #runTimers(): void {
    const now = this.#clock.now();
    // Timers scheduled while this step runs (e.g. callLater(0) from a timer) wait for the next
    // iteration, with the real clock and a manual one alike.
    const seqLimit = this.#seq;
    for (let fired = 0; fired < this.#maxTimersPerTick; fired++) {
      const top = this.#timers.peek();
      if (top === undefined || top.when > now || top.seq >= seqLimit) return;
      this.#timers.pop();
      top.fire();
    }
  }

  #runReaders(): void {
    if (this.#notified.size === 0) return;
    const notified = this.#notified;
    this.#notified = new Set();
    for (const source of notified) {
      // Looked up now, so a reader removed earlier in this iteration does not run.
      const reader = this.#readers.get(source);
      if (reader !== undefined) this.#invoke(() => reader(source), 'reader');
    }
  }

  #nextDelay(): number {
    if (this.#notified.size > 0 || this.#ready.some((item) => !item.handle.cancelled)) return 0;
    const top = this.#timers.peek();
    if (top === undefined) return Infinity;
    return Math.max(0, top.when - this.#clock.now());
  }

  #invoke(cb: () => void, context: HubErrorContext): void {
    try {
      const result: unknown = cb();
      // An async callback's rejection would otherwise surface as an unhandled rejection; its
      // settling may be what a `runUntil` predicate waits for.
      if (isPromiseLike(result)) {
        result.then(
          () => this.wake(),
          (error: unknown) => {
            this.#report(error, context);
            this.wake();
          },
        );
      }
    } catch (error) {
      this.#report(error, context);
    }
  }

  #report(error: unknown, context: HubErrorContext): void {
    this.#errorCount++;
    this.#lastError = error;
    // Node's EventEmitter throws an 'error' event that has no listener; the hub must not.
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', error, context);
    } catch (listenerError) {
      this.#errorCount++;
      this.#lastError = listenerError;
    }
  }
}
