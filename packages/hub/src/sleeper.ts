import type { Clock } from './clock.js';

/** Node caps setTimeout at 2^31 - 1 ms; longer delays would fire immediately. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The hub's sleep between iterations: a promise that resolves when the delay ends or when
 * {@link Sleeper.wake} is called (callSoon, notifyReadable, stop), the signal aborts, or a manual
 * clock is advanced. At most one setTimeout exists at any time, and it is cleared on wake.
 */
export class Sleeper {
  readonly #clock: Clock;
  #wake: (() => void) | undefined;
  #until = -Infinity;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** True while a sleep is in progress. */
  get sleeping(): boolean {
    return this.#wake !== undefined;
  }

  /** Ends the current sleep, if any. */
  wake(): void {
    this.#wake?.();
  }

  /** Ends the current sleep if it would last past clock time `when`. */
  wakeIfBefore(when: number): void {
    if (this.#wake !== undefined && when < this.#until) this.#wake();
  }

  /**
   * Sleeps `ms` clock milliseconds (`Infinity`: until woken). A delay of 0 still yields to the
   * event loop (setImmediate) so that a busy hub never starves Node's I/O callbacks.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted === true) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let unsubscribe: (() => void) | undefined;
      const wake = (): void => {
        if (this.#wake !== wake) return;
        this.#wake = undefined;
        this.#until = -Infinity;
        if (timer !== undefined) clearTimeout(timer);
        unsubscribe?.();
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      this.#wake = wake;
      this.#until = this.#clock.now() + ms;
      if (Number.isFinite(ms)) timer = setTimeout(wake, Math.min(Math.ceil(ms), MAX_TIMEOUT_MS));
      signal?.addEventListener('abort', wake, { once: true });
      unsubscribe = this.#clock.onAdvance?.(wake);
    });
  }
}
