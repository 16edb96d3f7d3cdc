/**
 * Kombu's retry machinery (`kombu.utils.functional.retry_over_time` and `fxrange`), in seconds.
 *
 * The schedule starts at `intervalStart` and grows by `intervalStep` up to
 * `intervalMax + intervalStart` (not `intervalMax`: that is what Kombu 5.2.4 does, measured as
 * 2, 4, ..., 30, 32, 32, ... for the defaults, docs/kombu-compatibility.md#retry), then repeats its
 * last value.
 */
import { AbortedError, KelpError, OperationalError, throwIfAborted } from './errors.js';
import type { RetryPolicy } from './retry-policy-types.js';

/** Kombu's `ensure_connection` defaults (seconds). */
export const DEFAULT_RETRY_POLICY = { intervalStart: 2, intervalStep: 2, intervalMax: 30 } as const;

/** Float steps drift (0.2 + 0.2 + 0.2 = 0.6000000000000001); round to keep the schedule exact. */
const round = (value: number): number => Math.round(value * 1e9) / 1e9;

/**
 * The sleep before each retry, in seconds: `start, start + step, ...` while it is at most
 * `max + start`, then the last value forever. The generator never ends.
 *
 * Kombu leaves the schedule uncapped when `max + start` is 0 (`if not stop`); here it stays 0,
 * because a schedule that grows without bound from a zero policy is never what was asked for.
 */
export function* retryIntervals(policy: RetryPolicy = {}): Generator<number, never, undefined> {
  const start = policy.intervalStart ?? DEFAULT_RETRY_POLICY.intervalStart;
  const step = policy.intervalStep ?? DEFAULT_RETRY_POLICY.intervalStep;
  const max = policy.intervalMax ?? DEFAULT_RETRY_POLICY.intervalMax;
  const stop = round(max + start);
  let last = start;
  for (let n = 0; ; n++) {
    const value = round(start + n * step);
    if (value <= stop && (n === 0 || step > 0)) last = value;
    yield last;
  }
}

/**
 * Waits `seconds` (0 or less resolves on the next macrotask). Rejects with {@link AbortedError}
 * when `signal` aborts, clearing its timer so an aborted wait holds no process alive.
 */
export function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError('The wait was aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError('The wait was aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, seconds * 1000),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOverOptions {
  /** Errors this returns false for are thrown at once, unwrapped. */
  isRetryable: (error: unknown) => boolean;
  policy?: RetryPolicy;
  /**
   * Called after each retryable failure that will be retried, before the sleep, with the number of
   * seconds about to be slept (Kombu's `errback(exc, interval)`).
   */
  onError?: (error: unknown, intervalSeconds: number) => void;
  /**
   * Picks the sleep after failure number `retries` (0-based). The default takes the next value of
   * the schedule; `ensureConnection` sleeps 0 between hosts of one failover cycle instead.
   */
  intervalFor?: (retries: number, next: () => number) => number;
  /** What was being retried, for the final error ("Connecting to redis://..."). */
  description?: string;
  signal?: AbortSignal;
}

/** The message of an unknown thrown value, for wrapping it in another error's message. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Runs `fn` until it resolves, retrying retryable failures on the {@link retryIntervals} schedule.
 * `maxRetries: n` means n retries, so n + 1 attempts (undefined: no limit but `timeout`).
 * `timeout` (seconds since the first attempt) stops the retries; a sleep never runs past it.
 *
 * @returns what `fn` resolved with.
 * @throws OperationalError naming the attempts, with the last error as `cause`, once the retries
 *   run out; the error itself when it is not retryable; AbortedError when `signal` aborts.
 */
export async function retryOver<T>(fn: (attempt: number) => Promise<T>, options: RetryOverOptions): Promise<T> {
  const { isRetryable, policy = {}, onError, signal, description = 'The operation' } = options;
  const intervals = retryIntervals(policy);
  const next = (): number => intervals.next().value;
  const intervalFor = options.intervalFor ?? ((_retries: number, nextInterval: () => number) => nextInterval());
  const startedAt = Date.now();
  const deadline = policy.timeout === undefined ? Infinity : startedAt + policy.timeout * 1000;

  for (let retries = 0; ; retries++) {
    throwIfAborted(signal);
    try {
      return await fn(retries);
    } catch (error) {
      if (error instanceof AbortedError || !isRetryable(error)) throw error;
      const attempts = retries + 1;
      if (policy.maxRetries !== undefined && retries >= policy.maxRetries) {
        throw finalError(`${description} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}`, error);
      }
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) {
        throw finalError(`${description} timed out after ${policy.timeout}s (${attempts} attempts)`, error);
      }
      const interval = intervalFor(retries, next);
      onError?.(error, interval);
      await sleep(Math.min(interval, remainingMs / 1000), signal);
    }
  }
}

function finalError(message: string, cause: unknown): KelpError {
  return new OperationalError(`${message}: ${errorMessage(cause)}`, { cause });
}
