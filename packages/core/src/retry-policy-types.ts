/**
 * The retry policy shared by `Connection.ensure`, `Connection.ensureConnection` and
 * `Producer.publish({ retry: true, retryPolicy })`. Durations are in SECONDS, as in Kombu.
 */
export interface RetryPolicy {
  /** Give up after this many retries (undefined: retry until `timeout`, or forever). */
  maxRetries?: number;
  /** Seconds to wait before the first retry (Kombu's `interval_start`, default 2). */
  intervalStart?: number;
  /** Seconds added to the wait after each retry (Kombu's `interval_step`, default 2). */
  intervalStep?: number;
  /** The longest wait between two retries, in seconds (Kombu's `interval_max`, default 30). */
  intervalMax?: number;
  /** Give up once this many seconds have passed since the first attempt. */
  timeout?: number;
}
