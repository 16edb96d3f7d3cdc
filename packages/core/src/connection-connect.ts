/**
 * How a Connection gets connected: `connect`/`ensureConnection` retry shared connection attempts
 * under each caller's policy, every attempt goes to the current URL of the failover list, and a
 * failed attempt leaves nothing half-open behind.
 *
 * It is separate from `Connection` because this is the part with its own bookkeeping (the shared
 * attempt, which attempt connected what, closes that happened while connecting) and its own
 * concurrency rules; `Connection` keeps the state machine, the transport and the channels, and
 * hands over what the attempts need through {@link ConnectHost}.
 */
import { connectOnce } from './connect-attempt.js';
import type { EnsureConnectionOptions } from './connection-options.js';
import type { ConnectionTargets } from './connection-targets.js';
import { OperationalError } from './errors.js';
import { retryOver } from './retry.js';
import { SharedAttempt, type AttemptTicket } from './shared-attempt.js';
import type { Transport } from './transport.js';

/** What connecting needs from its Connection (private parts handed over as functions). */
export interface ConnectHost {
  readonly targets: ConnectionTargets;
  /** Seconds one attempt may take (the `connectTimeout` option). */
  readonly connectTimeout: number | undefined;
  isConnected(): boolean;
  /** An attempt starts: the state says so, unless it already says reconnecting. */
  attemptStarted(): void;
  /** An attempt succeeded: the state, the event-loop registration, the 'reconnected' event. */
  attemptConnected(): void;
  /** A caller gave up connecting; unless another one connected meanwhile, the connection is idle. */
  gaveUp(): void;
  /** The transport for the current URL, created (not connected) if there is none. */
  transport(): Transport;
  currentTransport(): Transport | undefined;
  /** Forgets `transport` if it is still the current one, and closes it quietly. */
  dropTransport(transport: Transport): Promise<void>;
  isConnectionError(error: unknown): boolean;
  /** The error to throw: scrubbed, a KelpError. */
  safeError(error: unknown): Error;
}

export class Connector {
  readonly #host: ConnectHost;
  /** The connection attempt in flight, shared by every caller that needs the connection. */
  readonly #attempt = new SharedAttempt((signal, id) => this.#attemptRound(signal, id));
  /** The shared attempt that connected each transport, and the one each failure came from. */
  readonly #roundOf = new WeakMap<object, number>();
  /** Bumped by Connection.close(): retry loops started before it stop instead of reconnecting after it. */
  #closes = 0;
  /** Connect failures their (since dropped) transport classified as connection errors. */
  readonly #connectionErrors = new WeakSet<object>();

  constructor(host: ConnectHost) {
    this.#host = host;
  }

  /** The attempt in flight, if any: Connection.close() lets it settle first, so the transport it connects is closed too. */
  get inFlight(): Promise<void> | undefined {
    return this.#attempt.inFlight;
  }

  /** The connection is closing: retry loops started before now give up instead of reconnecting. */
  noteClose(): void {
    this.#closes++;
  }

  /** True when `error` is a connect failure its transport classified as a connection error. */
  failedWithConnectionError(error: unknown): boolean {
    return typeof error === 'object' && error !== null && this.#connectionErrors.has(error);
  }

  /** The newest shared attempt whose outcome `source` (a transport or a connect error) reflects. */
  seenBy(source: unknown): number {
    return (typeof source === 'object' && source !== null ? this.#roundOf.get(source) : undefined) ?? this.#attempt.newestId;
  }

  /**
   * Retries shared connection attempts under `options`' policy. `firstFailure` is a connect
   * failure the caller already had: it counts as the first attempt, so the policy's first sleep
   * comes before the next attempt instead of a second attempt right away. `seen` is the newest
   * shared attempt the caller already knows the outcome of (default: all of them).
   */
  async establish(options: EnsureConnectionOptions, firstFailure?: unknown, seen?: number): Promise<void> {
    const host = this.#host;
    const { signal, onError, ...policy } = options;
    const closes = this.#closes;
    const ticket: AttemptTicket = { seen: seen ?? this.#attempt.newestId };
    try {
      await retryOver(
        (attempt) => {
          if (attempt === 0 && firstFailure !== undefined) return Promise.reject(firstFailure);
          if (this.#closes !== closes) return Promise.reject(new OperationalError(`Connection to ${host.targets.redacted} was closed while connecting`));
          if (host.isConnected()) return Promise.resolve();
          return this.#attempt.join(ticket, signal);
        },
        {
          policy,
          ...(signal ? { signal } : {}),
          isRetryable: (error) => this.#closes === closes && host.isConnectionError(error),
          intervalFor: (retries, next) => (host.targets.completesCycle(retries) ? next() : 0),
          onError: (error, interval) => onError?.(host.targets.sanitize(error), interval),
          description: `Connecting to ${host.targets.redacted}`,
        },
      );
    } catch (error) {
      host.gaveUp();
      const safe = host.safeError(error);
      this.#roundOf.set(safe, ticket.seen);
      throw safe;
    }
  }

  /** One attempt on the current URL; a failure switches to the next URL of the failover list. */
  async #attemptRound(signal: AbortSignal, id: number): Promise<void> {
    const host = this.#host;
    host.attemptStarted();
    try {
      await this.#connectTransport(signal);
    } catch (error) {
      host.targets.switchNext();
      throw error;
    }
    const transport = host.currentTransport();
    if (transport) this.#roundOf.set(transport, id);
    host.attemptConnected();
  }

  async #connectTransport(signal: AbortSignal | undefined): Promise<void> {
    const host = this.#host;
    const transport = host.transport();
    try {
      await connectOnce(transport, { timeoutSeconds: host.connectTimeout, signal, redactedUrl: host.targets.currentUrl });
    } catch (error) {
      // Classify with the transport that failed, before it is dropped.
      if (typeof error === 'object' && error !== null && transport.isConnectionError(error)) {
        this.#connectionErrors.add(error);
      }
      // A half-open transport is dropped; the next attempt builds a fresh one for its URL.
      await host.dropTransport(transport);
      throw error;
    }
  }
}
