/**
 * `ConsumerWorker`: a reconnecting consume loop in the spirit of Kombu's `ConsumerMixin`
 * (docs/kombu-compatibility.md#helpers). `run()` connects with backoff, builds the consumers on a
 * fresh channel, drains events in `safetyInterval` slices, and on a connection error throws the
 * connection away, reconnects and builds the consumers again. Restarts are rate-limited by a token
 * bucket so a broker that accepts and drops connections in a loop does not make the worker spin.
 */
import type { Connection } from './connection.js';
import { DEFAULT_STOP_TIMEOUT } from './consumer.js';
import { RETRY_POLICY_OPTION_NAMES } from './connection-options.js';
import { AbortedError, KelpError, OperationTimeoutError } from './errors.js';
import { OptionNames } from './option-parsing.js';
import { sleep } from './retry.js';
import type { RetryPolicy } from './retry-policy-types.js';
import type { Channel } from './transport.js';

/** What the worker needs of a consumer (kelp's `Consumer` has it). */
export interface WorkerConsumer {
  consume(): Promise<unknown>;
  /**
   * Stops consuming and gives prefetched, unprocessed messages back; kelp's Consumer also waits
   * up to `timeout` seconds for a callback in progress.
   */
  cancel(options?: { timeout?: number }): Promise<unknown>;
}

export interface ConsumerWorkerOptions<C extends WorkerConsumer> {
  /** Builds the consumers on the worker's channel; called again after every reconnect. */
  getConsumers: (channel: Channel, connection: Connection) => C[] | Promise<C[]>;
  /** A connection failed (connecting, or while consuming); `intervalSeconds` is the coming sleep. */
  onConnectionError?: (error: Error, intervalSeconds: number) => void;
  /** The consumers are consuming. */
  onConsumeReady?: (connection: Connection, channel: Channel, consumers: C[]) => void;
  /** Restart rate limit (Kombu: `TokenBucket(1)`): `rate` restarts per second, bursts of `capacity`. */
  restartLimit?: { rate?: number; capacity?: number };
  /** Backoff for (re)connecting; defaults to Kombu's 2 s, +2 s, up to 32 s, for ever. */
  retryPolicy?: RetryPolicy;
  /** Seconds per drainEvents slice (Kombu's `safety_interval`, default 1). */
  safetyInterval?: number;
}

export type ConsumerWorkerState = 'idle' | 'running' | 'stopping' | 'stopped';

const WORKER_OPTION_NAMES = OptionNames.of<ConsumerWorkerOptions<WorkerConsumer>>({
  getConsumers: true, onConnectionError: true, onConsumeReady: true, restartLimit: true, retryPolicy: true, safetyInterval: true,
});
const RESTART_LIMIT_NAMES = OptionNames.of<NonNullable<ConsumerWorkerOptions<WorkerConsumer>['restartLimit']>>({ rate: true, capacity: true });
const RUN_OPTION_NAMES = OptionNames.of<{ signal?: AbortSignal }>({ signal: true });
const STOP_OPTION_NAMES = OptionNames.of<{ timeout?: number }>({ timeout: true });

/** Kombu's `kombu.utils.limits.TokenBucket`: `rate` tokens per second, at most `capacity`. */
export class TokenBucket {
  readonly rate: number;
  readonly capacity: number;
  #tokens: number;
  #timestamp: number;

  constructor(rate: number, capacity = 1) {
    this.rate = rate;
    this.capacity = capacity;
    this.#tokens = capacity;
    this.#timestamp = Date.now();
  }

  /** Takes `tokens` if there are that many. */
  canConsume(tokens = 1): boolean {
    if (tokens <= this.#refill()) {
      this.#tokens -= tokens;
      return true;
    }
    return false;
  }

  /** Seconds until `tokens` will be there. */
  expectedTime(tokens = 1): number {
    const available = this.#refill();
    return (Math.max(tokens, available) - available) / this.rate;
  }

  #refill(): number {
    if (this.#tokens < this.capacity) {
      const now = Date.now();
      this.#tokens = Math.min(this.capacity, this.#tokens + (this.rate * (now - this.#timestamp)) / 1000);
      this.#timestamp = now;
    }
    return this.#tokens;
  }
}

export class ConsumerWorker<C extends WorkerConsumer = WorkerConsumer> {
  readonly connection: Connection;
  readonly #options: ConsumerWorkerOptions<C>;
  readonly #bucket: TokenBucket;
  #state: ConsumerWorkerState = 'idle';
  #stop = new AbortController();
  #done: Promise<void> | undefined;
  #restarts = 0;
  #stopTimeout = DEFAULT_STOP_TIMEOUT;

  constructor(connection: Connection, options: ConsumerWorkerOptions<C>) {
    WORKER_OPTION_NAMES.check(options, 'ConsumerWorker');
    RESTART_LIMIT_NAMES.check(options.restartLimit, 'ConsumerWorker restartLimit');
    RETRY_POLICY_OPTION_NAMES.check(options.retryPolicy, 'ConsumerWorker retryPolicy');
    this.connection = connection;
    this.#options = options;
    this.#bucket = new TokenBucket(options.restartLimit?.rate ?? 1, options.restartLimit?.capacity ?? 1);
  }

  get state(): ConsumerWorkerState {
    return this.#state;
  }

  /** How many times the consumers were rebuilt after a connection error. */
  get restarts(): number {
    return this.#restarts;
  }

  /**
   * Consumes until {@link stop} or `signal`. Resolves when stopped; rejects with the first error
   * that is not a connection error (a bug in a callback factory, a bad option).
   */
  run(options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      RUN_OPTION_NAMES.check(options, 'ConsumerWorker.run');
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state === 'running' || this.#state === 'stopping') {
      return Promise.reject(new KelpError('ConsumerWorker.run() was called while the worker is running; call stop() first'));
    }
    this.#stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, this.#stop.signal]) : this.#stop.signal;
    this.#state = 'running';
    const done = this.#loop(signal).finally(() => {
      this.#state = 'stopped';
    });
    this.#done = done.catch(() => undefined);
    return done;
  }

  /**
   * Stops gracefully: the consumers stop taking deliveries and hand prefetched, not-yet-started
   * messages back at once, a callback in progress gets up to `timeout` seconds (default 10) to
   * finish, then the channel closes (restoring whatever is still unacked).
   */
  async stop(options: { timeout?: number } = {}): Promise<void> {
    STOP_OPTION_NAMES.check(options, 'ConsumerWorker.stop');
    if (this.#state !== 'running') return;
    this.#stopTimeout = options.timeout ?? DEFAULT_STOP_TIMEOUT;
    this.#state = 'stopping';
    this.#stop.abort();
    await this.#done;
  }

  async #loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#consumeUntilError(signal);
      } catch (error) {
        if (signal.aborted || error instanceof AbortedError) return;
        if (!this.connection.isConnectionError(error)) throw error;
        this.#restarts++;
        this.#options.onConnectionError?.(error as Error, 0);
        await this.connection.collect();
        if (!this.#bucket.canConsume(1)) {
          try {
            await sleep(this.#bucket.expectedTime(1), signal);
          } catch {
            return;
          }
        }
      }
    }
  }

  async #consumeUntilError(signal: AbortSignal): Promise<void> {
    const { onConnectionError, retryPolicy, safetyInterval = 1 } = this.#options;
    await this.connection.ensureConnection({
      ...retryPolicy,
      signal,
      ...(onConnectionError ? { onError: onConnectionError } : {}),
    });
    const channel = await this.connection.channel();
    let consumers: C[] = [];
    try {
      consumers = await this.#options.getConsumers(channel, this.connection);
      for (const consumer of consumers) await consumer.consume();
      this.#options.onConsumeReady?.(this.connection, channel, consumers);
      while (!signal.aborted) {
        try {
          await this.connection.drainEvents({ timeout: safetyInterval, signal });
        } catch (error) {
          // A quiet slice is normal; it only gives the loop a chance to see stop().
          if (!(error instanceof OperationTimeoutError)) throw error;
        }
      }
    } finally {
      // All at once, so the stop timeout bounds the whole stop rather than each consumer in turn.
      const options = { timeout: signal.aborted ? this.#stopTimeout : 0 };
      await Promise.all(consumers.map((consumer) => consumer.cancel(options).catch(() => undefined)));
      await channel.close().catch(() => undefined);
    }
  }
}
