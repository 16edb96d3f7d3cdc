/**
 * Celery's Redis result backend (docs/celery.md#results): a result is `SETEX
 * celery-task-meta-<id> <result_expires> <payload>` and a `PUBLISH` of the same payload on a
 * channel of that name, in one transaction. Waiting for a result subscribes to that channel and
 * reads the key once the subscription is confirmed, and again after every reconnect, so a result
 * stored while the subscriber was away is still seen, and nothing polls.
 */
import { AbortedError, sanitizeError, throwIfAborted } from '@kelp/core';
import { Redis } from 'ioredis';
import { backendTarget, type BackendTarget } from './backend-url.js';
import { ResultBackendClosedError, ResultTimeoutError } from './errors.js';
import { setLongTimeout, type LongTimeout } from './long-timeout.js';
import type { TaskSerializer } from './options.js';
import { decodeMeta, encodeMeta, READY_STATES, type ResultMeta } from './result-meta.js';

export const TASK_KEY_PREFIX = 'celery-task-meta-';
export const GROUP_KEY_PREFIX = 'celery-taskset-meta-';

/** The key (and channel) a task's result lives under. */
export function taskKey(taskId: string): string {
  return `${TASK_KEY_PREFIX}${taskId}`;
}

/** A group's key, with Celery's suffixes for chords: `.j` (results zset), `.t` (size change), `.s` (size). */
export function groupKey(groupId: string, suffix: '' | '.j' | '.t' | '.s' = ''): string {
  return `${GROUP_KEY_PREFIX}${groupId}${suffix}`;
}

/**
 * KEYS[1] the result key; ARGV[1] the payload (JSON or msgpack), ARGV[2] the expiry in seconds
 * (0: none). Returns 0 when a SUCCESS is already stored (nothing written), else 1.
 */
const STORE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(function()
    if string.sub(current, 1, 1) == '{' then return cjson.decode(current) end
    return cmsgpack.unpack(current)
  end)
  if ok and type(meta) == 'table' and meta['status'] == 'SUCCESS' then return 0 end
end
local expires = tonumber(ARGV[2])
if expires > 0 then
  redis.call('SETEX', KEYS[1], expires, ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`;

interface StoreCommand {
  kelpCeleryStore(key: string, payload: string | Buffer, expires: number): Promise<number>;
}

export interface WaitForOptions {
  /** Seconds to wait; undefined waits for ever. */
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

interface Waiter {
  resolve(meta: ResultMeta): void;
  reject(error: Error): void;
}

export class RedisResultBackend {
  /** The backend URL with its password replaced by `**`. */
  readonly url: string;
  readonly expires: number;
  readonly serializer: TaskSerializer;
  /** Commands: GET, SETEX, PUBLISH, DEL, the chord counters. */
  readonly client: Redis;
  #subscriber: Redis | undefined;
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #target: BackendTarget;
  readonly #onError: ((error: Error) => void) | undefined;
  /** The last connection error (password scrubbed), given as the cause of a timed-out wait. */
  #lastError: Error | undefined;
  /** `expires` in whole seconds for SETEX; a fraction rounds to at least 1, never to 0 (= keep for ever). */
  readonly #ttl: number;
  #closed = false;

  /**
   * @param options.onError receives every connection error of the backend's clients, password
   *   scrubbed; ioredis reconnects on its own meanwhile. Without it the errors are only the
   *   `cause` of a `get()` that times out: never printed.
   */
  constructor(url: string, options: { expires: number; serializer: TaskSerializer; onError?: ((error: Error) => void) | undefined }) {
    this.#target = backendTarget(url);
    this.url = this.#target.redacted;
    this.expires = options.expires;
    this.#ttl = options.expires > 0 ? Math.max(1, Math.round(options.expires)) : 0;
    this.serializer = options.serializer;
    this.#onError = options.onError;
    this.client = this.#watch(new Redis({ ...this.#target.options, lazyConnect: true, maxRetriesPerRequest: null, enableAutoPipelining: true }));
    // EVALSHA with a fallback to EVAL, as ioredis does for every defined command.
    this.client.defineCommand('kelpCeleryStore', { numberOfKeys: 1, lua: STORE_SCRIPT });
  }

  /** `expires` in whole seconds as SETEX / EXPIRE take it: 0 for none, else at least 1. */
  get ttl(): number {
    return this.#ttl;
  }

  async getMeta(taskId: string): Promise<ResultMeta | undefined> {
    const bytes = await this.client.getBuffer(taskKey(taskId)).catch((error: unknown) => this.#rethrow(error));
    return bytes === null ? undefined : decodeMeta(bytes);
  }

  /**
   * Stores and publishes a result, unless the task already has a SUCCESS stored: Celery 5.2 keeps
   * the first success, so a task that ran twice (a worker lost before its ack) is stored once.
   * One script does the check, the SETEX and the PUBLISH, so two workers finishing the same task
   * at once cannot both store it, and a result costs one round trip.
   */
  async store(meta: ResultMeta): Promise<void> {
    const key = taskKey(meta.task_id);
    await (this.client as Redis & StoreCommand).kelpCeleryStore(key, encodeMeta(meta, this.serializer), this.#ttl).catch((error: unknown) => this.#rethrow(error));
  }

  /** Celery's backend `set`: SETEX (or SET without expiry) and PUBLISH of the value, in one transaction. */
  async set(key: string, value: string | Buffer): Promise<void> {
    const multi = this.client.multi();
    if (this.#ttl > 0) multi.setex(key, this.#ttl, value);
    else multi.set(key, value);
    multi.publish(key, value);
    await multi.exec().catch((error: unknown) => this.#rethrow(error));
  }

  async forget(taskId: string): Promise<void> {
    await this.client.del(taskKey(taskId)).catch((error: unknown) => this.#rethrow(error));
  }

  /** Resolves with the result once the task is in a ready state (SUCCESS, FAILURE, REVOKED). */
  async waitFor(taskId: string, options: WaitForOptions = {}): Promise<ResultMeta> {
    throwIfAborted(options.signal);
    const key = taskKey(taskId);
    if (this.#closed) throw closedError();
    let waiter: Waiter | undefined;
    let timer: LongTimeout | undefined;
    let onAbort: (() => void) | undefined;
    let onDown: (() => void) | undefined;
    try {
      return await new Promise<ResultMeta>((resolve, reject) => {
        waiter = { resolve, reject };
        const set = this.#waiters.get(key) ?? new Set();
        set.add(waiter);
        this.#waiters.set(key, set);
        const timedOut = () => new ResultTimeoutError(`The result of task ${taskId} did not arrive within ${options.timeout} s from the backend ${this.url}; raise \`timeout\` or leave it out to wait for ever`, { cause: this.#lastError });
        if (options.timeout === 0) {
          // One read, no wait: the stored result if it is ready, else a timeout at once; a
          // connection error means the read cannot be made now, which is a timeout too.
          onDown = () => reject(timedOut());
          this.client.once('error', onDown);
          this.#check(key).then(() => reject(timedOut()), (error: unknown) => reject(this.scrub(error)));
          return;
        }
        if (options.timeout !== undefined) timer = setLongTimeout(() => reject(timedOut()), options.timeout * 1000);
        if (options.signal) {
          onAbort = () => reject(new AbortedError('The wait for the result was aborted', { cause: options.signal?.reason }));
          options.signal.addEventListener('abort', onAbort, { once: true });
        }
        // Subscribe first, then read: a result stored in between is caught by one or the other.
        this.#subscribe(key).then(() => this.#check(key)).catch((error: unknown) => reject(this.scrub(error)));
      });
    } finally {
      timer?.clear();
      if (onDown) this.client.off('error', onDown);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
      const set = this.#waiters.get(key);
      if (waiter) set?.delete(waiter);
      if (set?.size === 0) {
        this.#waiters.delete(key);
        if (!this.#closed) this.#subscriber?.unsubscribe(key).catch(() => undefined);
      }
    }
  }

  /** Closes the clients; every `get()` still waiting rejects with ResultBackendClosedError. */
  async close(): Promise<void> {
    this.#closed = true;
    const error = closedError();
    for (const set of this.#waiters.values()) for (const waiter of set) waiter.reject(error);
    this.#subscriber?.disconnect();
    // QUIT only on a live connection: on one that is reconnecting it would wait for ever.
    if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }

  async #subscribe(key: string): Promise<void> {
    await this.#subscriberConnection().subscribe(key);
  }

  #subscriberConnection(): Redis {
    if (this.#subscriber) return this.#subscriber;
    const subscriber = this.#watch(new Redis({ ...this.#target.options, maxRetriesPerRequest: null, autoResubscribe: false, enableAutoPipelining: true }));
    let connectedBefore = false;
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#deliver(channel.toString(), message));
    subscriber.on('ready', () => {
      if (connectedBefore) this.#resubscribe().catch(() => undefined);
      connectedBefore = true;
    });
    this.#subscriber = subscriber;
    return subscriber;
  }

  /** After a reconnect: subscribe again to every pending key, then read each (what was missed). */
  async #resubscribe(): Promise<void> {
    const keys = [...this.#waiters.keys()];
    if (keys.length === 0 || !this.#subscriber) return;
    await this.#subscriber.subscribe(...keys);
    await Promise.all(keys.map((key) => this.#check(key)));
  }

  /**
   * An 'error' listener on a client: without one ioredis prints every connection error to stderr.
   * The error goes to `onError` with the password scrubbed; ioredis reconnects on its own.
   */
  /** A driver error with the password scrubbed (ioredis keeps AUTH's arguments on the error). */
  scrub(error: unknown): Error {
    return sanitizeError(error, this.#target.secrets);
  }

  #rethrow(error: unknown): never {
    throw this.scrub(error);
  }

  #watch(client: Redis): Redis {
    client.on('error', (error: unknown) => {
      const clean = this.scrub(error);
      this.#lastError = clean;
      try {
        this.#onError?.(clean);
      } catch {
        // A throwing error handler must not break the client's reconnects.
      }
    });
    return client;
  }

  async #check(key: string): Promise<void> {
    if (!this.#waiters.has(key)) return;
    const bytes = await this.client.getBuffer(key);
    if (bytes !== null) this.#deliver(key, bytes);
  }

  #deliver(key: string, payload: Buffer): void {
    const waiters = this.#waiters.get(key);
    if (!waiters) return;
    let meta: ResultMeta;
    try {
      meta = decodeMeta(payload);
    } catch {
      return; // not a Celery result payload: nobody waiting on this key can use it
    }
    if (!READY_STATES.has(meta.status)) return;
    for (const waiter of waiters) waiter.resolve(meta);
  }
}

function closedError(): ResultBackendClosedError {
  return new ResultBackendClosedError('The result backend was closed (app.close()) while waiting for a result');
}
