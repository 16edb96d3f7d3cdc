/**
 * What a task function receives as its last argument: the request (id, retries, eta, headers,
 * delivery info), an AbortSignal that fires at the soft time limit, and `retry()`.
 */
import { KelpError, type DeliveryInfo, type Headers } from '@kelp/core';

export interface RetryOptions {
  /** Seconds before the retry runs (default: the task's `defaultRetryDelay`, 180 as in Celery). */
  countdown?: number;
  /** When the retry runs (instead of `countdown`). */
  eta?: Date;
  /** Retries allowed (default: the task's `maxRetries`, 3 as in Celery); past it `exc` is thrown. */
  maxRetries?: number;
  /** The error that made the task retry; thrown instead of MaxRetriesExceededError once retries run out. */
  exc?: unknown;
  /** Replace the positional arguments of the retry. */
  args?: unknown[];
  /** Replace the keyword arguments of the retry. */
  kwargs?: Record<string, unknown>;
}

export interface TaskContext {
  readonly id: string;
  readonly name: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  /** How many times this task was retried before this run. */
  readonly retries: number;
  readonly eta: Date | null;
  readonly expires: Date | null;
  readonly headers: Headers;
  readonly deliveryInfo: DeliveryInfo;
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly groupId: string | null;
  /** The worker's node name. */
  readonly hostname: string;
  /** Aborted at the soft time limit (reason: a SoftTimeLimitExceeded error) or when the worker stops. */
  readonly signal: AbortSignal;
  /**
   * Sends the task again (same id, `retries` + 1, after `countdown`) as Celery's `Task.retry`,
   * stores the RETRY state, and rejects with {@link Retry}: `return ctx.retry({ countdown: 5 })`.
   * Past `maxRetries` it rejects with `exc` (or MaxRetriesExceededError) and the task fails.
   */
  retry(options?: RetryOptions): Promise<never>;
}

/** The rejection of `ctx.retry()`: the task was sent again, this run ends without a result. */
export class Retry extends KelpError {
  readonly excType = 'Retry';
  readonly when: Date;

  constructor(message: string, when: Date, options?: { cause?: unknown }) {
    super(message, options);
    this.when = when;
  }
}

/** A task function: the positional arguments Celery sends, then the context (kwargs are `ctx.kwargs`). */
export type TaskFunction = (...argsThenContext: never[]) => unknown;

/** A task with per-task settings. */
export interface TaskDefinition {
  run: TaskFunction;
  /** Ack after the task ran rather than before (default: the worker's `acksLate`). */
  acksLate?: boolean;
  /** Hard time limit in seconds (the message's `timelimit` header wins). */
  timeLimit?: number;
  softTimeLimit?: number;
  /** Default 3, as Celery's `max_retries`. */
  maxRetries?: number;
  /** Default 180 seconds, as Celery's `default_retry_delay`. */
  defaultRetryDelay?: number;
  /** Store no result for this task. */
  ignoreResult?: boolean;
}
