/**
 * `Connection.ensure`: run an operation on the default channel, reconnecting and retrying on
 * connection errors under a retry policy (Kombu's `Connection.ensure`,
 * docs/kombu-compatibility.md#errors), safely when many operations fail at once.
 */
import { ENSURE_DEFAULTS, type EnsureConnectionOptions, type EnsureOptions } from './connection-options.js';
import { throwIfAborted } from './errors.js';
import type { RetryPolicy } from './retry-policy-types.js';
import type { Channel, Transport } from './transport.js';

/** What `ensure` needs from its Connection (private parts handed over as functions). */
export interface EnsureHost {
  defaultChannel(): Promise<Channel>;
  /** The transport `channel` was opened on. */
  transportOf(channel: Channel): Transport | undefined;
  currentTransport(): Transport | undefined;
  isConnectionError(error: unknown): boolean;
  /** The error to throw: scrubbed, a KelpError. */
  safeError(error: unknown): Error;
  /** The error to hand to an errback: scrubbed. */
  sanitize(error: unknown): Error;
  /** Drops the current transport and its channels (the connection is lost). */
  collect(): Promise<void>;
  /** The newest shared connection attempt whose outcome `source` (a transport or a connect error) reflects. */
  seenBy(source: unknown): number;
  /** Retries shared connection attempts under `options` (see Connector#establish). */
  reconnect(options: EnsureConnectionOptions, firstFailure: unknown, seen: number): Promise<void>;
  replaceDefaultChannel(broken: Channel): Promise<void>;
}

/**
 * Runs `fn` with the default channel. On a connection error (the transport's classification),
 * also one met while getting the channel, it reconnects with `policy` (its sleeps included) and
 * runs `fn` again; if the error comes back after a successful reconnect it is thrown (Kombu's rule
 * for transports without "recoverable" classes, docs/kombu-compatibility.md#errors). On a channel
 * error it retries once on a new channel. Other errors are thrown at once.
 *
 * Concurrent calls share one reconnect: each drops the transport only if it is still the one its
 * channel was on (another call may already have replaced it), and they join the same connection
 * attempts, each under its own policy.
 */
export async function runEnsured<T>(host: EnsureHost, fn: (channel: Channel) => Promise<T>, policy: EnsureOptions = {}): Promise<T> {
  const { onRevive, onError, signal, ...rest } = policy;
  const retryPolicy: RetryPolicy = { ...ENSURE_DEFAULTS, ...rest };
  const max = retryPolicy.maxRetries;
  let reconnected = false;
  let revive = false;
  let channelRetried = false;
  for (let retries = 0; ; retries++) {
    throwIfAborted(signal);
    let channel: Channel | undefined;
    try {
      channel = await host.defaultChannel();
      if (revive) {
        revive = false;
        onRevive?.(channel);
      }
      return await fn(channel);
    } catch (error) {
      // Classified by the transport the channel was on: a concurrent call may have dropped it.
      const failedOn = channel ? host.transportOf(channel) : undefined;
      if (host.isConnectionError(error) || failedOn?.isConnectionError(error)) {
        if (reconnected || (max !== undefined && retries >= max)) throw host.safeError(error);
        // A failed connect is the reconnect loop's first failure (its errback gets the sleep).
        const whileConnecting = channel === undefined;
        if (!whileConnecting) onError?.(host.sanitize(error), 0);
        // Connecting failed: the failed attempt already dropped its transport. Otherwise drop the
        // channel's transport, unless something already replaced it.
        if (failedOn !== undefined && failedOn === host.currentTransport()) await host.collect();
        const reconnectPolicy: EnsureConnectionOptions = {
          ...retryPolicy,
          maxRetries: max === undefined ? undefined : Math.max(max - retries, 1),
          ...(signal ? { signal } : {}),
          ...(onError ? { onError } : {}),
        };
        // Shared attempts newer than the one that connected the failed transport (or than the
        // failed connect) are news to this call; older ones are not.
        const seen = host.seenBy(whileConnecting ? error : failedOn);
        await host.reconnect(reconnectPolicy, whileConnecting ? error : undefined, seen);
        reconnected = true;
        revive = true;
        continue;
      }
      if (channel && !channelRetried && (failedOn ?? host.currentTransport())?.isChannelError(error)) {
        channelRetried = true;
        onError?.(host.sanitize(error), 0);
        await host.replaceDefaultChannel(channel);
        continue;
      }
      // Scrubbed only if it quotes a password; otherwise the caller gets its own error object back.
      throw error instanceof Error ? host.sanitize(error) : error;
    }
  }
}
