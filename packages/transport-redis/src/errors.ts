/**
 * Which Redis failures are connection errors and which are channel errors
 * (docs/kombu-compatibility.md#errors), and how ioredis errors are wrapped into kelp's typed
 * errors. Messages carry the redacted URL so an operator sees which broker failed, never the
 * password.
 */
import { ChannelError, KelpError, OperationalError } from '@kelp/core';

/** Node socket error codes that mean "the link is down", not "the command was wrong". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENOTFOUND', 'EAI_AGAIN', 'ENOENT', 'EADDRNOTAVAIL', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/**
 * Redis error replies that are about the server's state or our session, not the command: a
 * server still loading its dataset (HEAD's BusyLoadingError), a failed AUTH, a read-only
 * replica after failover, a cluster slot that moved (MOVED) or is being moved (ASK, TRYAGAIN).
 * The command did not run; reconnecting (maybe elsewhere) or retrying later can fix them.
 */
const CONNECTION_REPLY_CODES = new Set(['LOADING', 'NOAUTH', 'WRONGPASS', 'READONLY', 'MASTERDOWN', 'CLUSTERDOWN', 'MOVED', 'ASK', 'TRYAGAIN']);

/**
 * A command inside a script refused by a cluster node because its key's slot is not (or, during
 * a migration, no longer wholly) served there, or because the cluster is down. A script that
 * declares no keys (route-and-push-0.lua: its queues are only known after the lookup) gets this
 * instead of MOVED/ASK. Its code is a plain ERR, so here only the text tells (Redis 7 and Valkey 8
 * word it alike).
 */
const CLUSTER_SCRIPT_REFUSAL = /^ERR Script attempted to (access a non local key in a cluster node|execute a (write )?command while the cluster is down)/;

/** A cluster node refused a script's command for its slot or the cluster's state (see above). */
export function isClusterScriptRefusal(error: unknown): boolean {
  return isReplyError(error) && CLUSTER_SCRIPT_REFUSAL.test(error.message);
}

/** An error reply from the server (ioredis's ReplyError), as opposed to a socket or client error. */
export function isReplyError(error: unknown): error is Error & { name: 'ReplyError' } {
  return error instanceof Error && error.name === 'ReplyError';
}

/**
 * The code of a Redis error reply: its first word (`NOSCRIPT`, `READONLY`, `NOSUB`, `ERR`),
 * undefined for any other error. Only the code is stable across servers: Valkey words the text
 * after it differently (its NOSCRIPT reply lacks Redis's "Please use EVAL."), so kelp decides
 * on the code, never on the text.
 */
export function replyCode(error: unknown): string | undefined {
  if (!isReplyError(error)) return undefined;
  return /^[A-Z][A-Z0-9_-]*(?=\s|$)/.exec(error.message)?.[0];
}

export function isRedisConnectionError(error: unknown): boolean {
  if (error instanceof KelpError) return error instanceof OperationalError;
  if (!(error instanceof Error)) return false;
  if (isReplyError(error)) return CONNECTION_REPLY_CODES.has(replyCode(error) ?? '') || CLUSTER_SCRIPT_REFUSAL.test(error.message);
  const code = (error as NodeJS.ErrnoException).code;
  if (code && CONNECTION_CODES.has(code)) return true;
  if (error.name === 'MaxRetriesPerRequestError' || error.name === 'AbortError') return true;
  return /Connection is closed|Stream isn't writeable|connect ETIMEDOUT|Command timed out|Socket closed unexpectedly/i.test(error.message);
}

/**
 * Channel errors: Redis refused the command itself (ResponseError/ReplyError: WRONGTYPE, a Lua
 * error, an unknown command). Note Kombu's ensure() retries these too
 * (docs/kombu-compatibility.md#errors); kelp keeps them apart so a WRONGTYPE is reported instead of
 * reconnect-looping.
 */
export function isRedisChannelError(error: unknown): boolean {
  if (error instanceof KelpError) return error instanceof ChannelError;
  return isReplyError(error) && !isRedisConnectionError(error);
}

/** Socket details worth keeping for diagnostics; none of them can hold a credential. */
const SAFE_FIELDS = ['code', 'errno', 'syscall', 'address', 'port'] as const;
const MAX_CAUSE_DEPTH = 4;

/**
 * A copy of an ioredis/Node error that is safe to attach as `cause`: name, message, stack and
 * socket fields only. ioredis errors carry the failed `command` with its `args` (the password
 * for AUTH and HELLO, and for MIGRATE's AUTH, message bodies for LPUSH) and, for EXEC, the
 * `previousErrors` of each command; inspect, JSON.stringify and loggers print all of it. Only
 * the command's name is kept.
 */
export function safeRedisCause(error: unknown, depth = 0): Error {
  if (!(error instanceof Error)) return new Error(typeof error === 'string' ? error : 'non-error value thrown');
  const safe = new Error(error.message);
  safe.name = error.name;
  if (error.stack !== undefined) safe.stack = error.stack;
  const source = error as unknown as Record<string, unknown>;
  const fields = safe as unknown as Record<string, unknown>;
  for (const key of SAFE_FIELDS) {
    const value = source[key];
    if (typeof value === 'string' || typeof value === 'number') fields[key] = value;
  }
  const command = source['command'];
  if (typeof command === 'object' && command !== null) {
    const name = (command as { name?: unknown }).name;
    if (typeof name === 'string') fields['command'] = { name };
  }
  if (depth < MAX_CAUSE_DEPTH) {
    const previous = source['previousErrors'];
    if (Array.isArray(previous)) fields['previousErrors'] = previous.map((item: unknown) => safeRedisCause(item, depth + 1));
    if (error.cause !== undefined) {
      Object.defineProperty(safe, 'cause', { value: safeRedisCause(error.cause, depth + 1), writable: true, configurable: true });
    }
  }
  return safe;
}

/**
 * Wraps an ioredis/Node error into OperationalError or ChannelError (KelpErrors pass through).
 * The driver's error is never attached as is: the cause is {@link safeRedisCause}.
 */
export function wrapRedisError(error: unknown, redactedUrl: string, operation: string): KelpError {
  if (error instanceof KelpError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const text = `redis ${operation} failed on ${redactedUrl}: ${message}`;
  const cause = safeRedisCause(error);
  if (isRedisChannelError(error)) return new ChannelError(text, { cause });
  return new OperationalError(text, { cause });
}

/**
 * A view of an ioredis client whose promise-returning commands (and pipeline/multi `exec`)
 * reject with wrapped kelp errors, so every hook of the channel reports OperationalError or
 * ChannelError naming the redacted URL without a try/catch in each of them.
 */
export function guardClient<T extends object>(client: T, redactedUrl: string): T {
  const wrapExec = (chain: Record<string, unknown>, op: string): unknown =>
    new Proxy(chain, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'exec' || typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((error: unknown) => {
            throw wrapRedisError(error, redactedUrl, op);
          });
      },
    });
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) {
          return result.catch((error: unknown) => {
            throw wrapRedisError(error, redactedUrl, prop);
          });
        }
        if ((prop === 'multi' || prop === 'pipeline') && result && typeof result === 'object') {
          return wrapExec(result as Record<string, unknown>, prop);
        }
        return result;
      };
    },
  });
}
