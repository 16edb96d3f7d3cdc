/**
 * The errors of kelp's Celery client and worker. A task that failed comes back as a
 * {@link CeleryTaskError} carrying what Celery stored: the Python exception's type, its module, its
 * arguments and the traceback text.
 */
import { KelpError, type KelpErrorOptions } from '@kelp/core';

/** The exception dict Celery stores for a failed task (`{"exc_type", "exc_message", "exc_module"}`). */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown;
  exc_module?: string | null;
}

/**
 * A task ended in FAILURE (or REVOKED, or RETRY when read mid-retry): the exception the task raised,
 * as the worker stored it. `excType` is the exception's class name (`ValueError`), `excMessage`
 * its arguments, `excModule` where the class lives (`builtins`) and `traceback` the worker's text.
 * The snake_case names are there too, as Celery's result payload spells them.
 */
export class CeleryTaskError extends KelpError {
  readonly taskId: string;
  readonly state: string;
  readonly excType: string;
  readonly excMessage: unknown;
  readonly excModule: string | null;
  readonly traceback: string | null;

  constructor(taskId: string, state: string, info: ExceptionInfo, traceback: string | null, options?: KelpErrorOptions) {
    super(`${info.exc_type}(${describeArgs(info.exc_message)}) in task ${taskId} (${state})`, options);
    this.taskId = taskId;
    this.state = state;
    this.excType = info.exc_type;
    this.excMessage = info.exc_message;
    this.excModule = info.exc_module ?? null;
    this.traceback = traceback;
  }

  get exc_type(): string {
    return this.excType;
  }

  get exc_message(): unknown {
    return this.excMessage;
  }

  get exc_module(): string | null {
    return this.excModule;
  }
}

/** The task was revoked (by `revoke()`, or because it expired before a worker ran it). */
export class TaskRevokedError extends CeleryTaskError {}

/** `AsyncResult.get()` was given a `timeout` and the result did not arrive in time. */
export class ResultTimeoutError extends KelpError {
  override readonly recoverable: boolean = true;
}

/** A retry asked for by a task that already retried `maxRetries` times (Celery's MaxRetriesExceededError). */
export class MaxRetriesExceededError extends KelpError {}

function describeArgs(message: unknown): string {
  if (Array.isArray(message)) return message.map((item) => (typeof item === 'string' ? `'${item}'` : JSON.stringify(item))).join(', ');
  return typeof message === 'string' ? `'${message}'` : JSON.stringify(message);
}

/** The result backend was closed (`app.close()`) while a `get()` was waiting on it. */
export class ResultBackendClosedError extends KelpError {}
