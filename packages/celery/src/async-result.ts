/**
 * `AsyncResult`: a handle on a task's result in the Redis result backend, as Celery's. `get()`
 * subscribes to the result's channel and reads its key (see redis-backend.ts), so it neither polls
 * nor misses a result stored before or while it waits.
 */
import { OptionNames, parseOptions } from '@kelp/core';
import { z } from 'zod';
import { CeleryTaskError, TaskRevokedError } from './errors.js';
import type { RedisResultBackend } from './redis-backend.js';
import { EXCEPTION_STATES, isExceptionInfo, READY_STATES, type ResultMeta, type TaskState } from './result-meta.js';

/** What an AsyncResult needs of its app. */
export interface ResultHost {
  resultBackend(): RedisResultBackend;
  revoke(taskId: string, options?: RevokeOptions): Promise<void>;
}

export interface GetOptions {
  /** Seconds to wait (default: for ever); then ResultTimeoutError. */
  timeout?: number;
  signal?: AbortSignal;
  /** Throw the task's exception (default true); false returns the exception info instead. */
  propagate?: boolean;
}

export interface RevokeOptions {
  /** Also stop the task if it is running (Celery's `terminate`). */
  terminate?: boolean;
  /** The signal name for `terminate` (default `SIGTERM`). */
  signal?: string;
}

export const REVOKE_OPTION_NAMES = OptionNames.of<RevokeOptions>({ terminate: true, signal: true });
export const revokeOptionsSchema = z.object({
  terminate: z.boolean().default(false),
  // Celery's `signum()` takes an upper-case name, with or without `SIG`.
  signal: z.string().regex(/^[A-Z][A-Z0-9]*$/, { message: 'must be an upper-case signal name such as SIGTERM, SIGKILL or KILL' }).default('SIGTERM'),
});

const GET_OPTION_NAMES = OptionNames.of<GetOptions>({ timeout: true, signal: true, propagate: true });
const getOptionsSchema = z.object({ timeout: z.number().finite().min(0).optional(), propagate: z.boolean().default(true) });

export class AsyncResult<R = unknown> {
  readonly id: string;
  readonly #host: ResultHost;
  #cached: ResultMeta | undefined;

  constructor(id: string, host: ResultHost) {
    this.id = id;
    this.#host = host;
  }

  /** The task's state as stored now (PENDING when nothing is stored). */
  get state(): Promise<TaskState> {
    return this.meta().then((meta) => meta.status);
  }

  /** Celery's alias of `state`. */
  get status(): Promise<TaskState> {
    return this.state;
  }

  /** The stored payload (a PENDING one when nothing is stored yet). Ready results are cached. */
  async meta(): Promise<ResultMeta> {
    if (this.#cached) return this.#cached;
    const meta = (await this.#host.resultBackend().getMeta(this.id)) ?? pending(this.id);
    if (READY_STATES.has(meta.status)) this.#cached = meta;
    return meta;
  }

  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.state);
  }

  async successful(): Promise<boolean> {
    return (await this.state) === 'SUCCESS';
  }

  async failed(): Promise<boolean> {
    return (await this.state) === 'FAILURE';
  }

  /** The return value, or the exception info of a failed task (Celery's `result` / `info`). */
  async info(): Promise<unknown> {
    return (await this.meta()).result;
  }

  async traceback(): Promise<string | null> {
    return (await this.meta()).traceback;
  }

  /**
   * Waits for the task to finish and returns its value; a task that failed or was revoked throws a
   * CeleryTaskError (TaskRevokedError) carrying the Python exception's type, message and traceback.
   */
  async get(options: GetOptions = {}): Promise<R> {
    const parsed = parseOptions(getOptionsSchema, { timeout: options.timeout, propagate: options.propagate }, 'AsyncResult.get');
    GET_OPTION_NAMES.check(options, 'AsyncResult.get');
    const meta = this.#cached ?? (await this.#host.resultBackend().waitFor(this.id, { timeout: parsed.timeout, signal: options.signal }));
    this.#cached = meta;
    if (EXCEPTION_STATES.has(meta.status) && parsed.propagate) throw toError(meta);
    return meta.result as R;
  }

  /** Deletes the stored result. */
  async forget(): Promise<void> {
    this.#cached = undefined;
    await this.#host.resultBackend().forget(this.id);
  }

  /** Broadcasts Celery's `revoke` to every worker (the `celery.pidbox` fanout). */
  async revoke(options: RevokeOptions = {}): Promise<void> {
    await this.#host.revoke(this.id, options);
  }

  toString(): string {
    return this.id;
  }
}

function pending(taskId: string): ResultMeta {
  return { status: 'PENDING', result: null, traceback: null, children: [], date_done: null, task_id: taskId };
}

/** The typed error for a stored exception. */
export function toError(meta: ResultMeta): CeleryTaskError {
  const info = isExceptionInfo(meta.result) ? meta.result : { exc_type: 'Exception', exc_message: [String(meta.result)], exc_module: 'builtins' };
  const ErrorClass = meta.status === 'REVOKED' ? TaskRevokedError : CeleryTaskError;
  return new ErrorClass(meta.task_id, meta.status, info, meta.traceback);
}
