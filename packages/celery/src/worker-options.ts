/** The options of `app.worker()`, their names and validation. */
import { OptionNames } from '@kelp/core';
import { z } from 'zod';
import type { RetryOptions, TaskDefinition, TaskFunction } from './task-context.js';

export interface WorkerOptions {
  /** Task name -> function (or definition) this worker runs; other names are refused as unregistered. */
  tasks: Readonly<Record<string, TaskFunction | TaskDefinition>>;
  /** Queues to consume (default: the app's default queue). */
  queues?: readonly string[];
  /** Tasks run at once (the consumer's `concurrency`, default 1). */
  concurrency?: number;
  /** Messages taken before they are acked (default 4 x concurrency, Celery's prefetch multiplier). */
  prefetchCount?: number;
  /** Ack after a task ran instead of before (Celery's `task_acks_late`, default false). */
  acksLate?: boolean;
  /** Default hard time limit, seconds. */
  timeLimit?: number;
  /** Default soft time limit, seconds. */
  softTimeLimit?: number;
  /** The node name (default `kelp<pid>@<host>`), shown by `celery inspect` and Flower. */
  hostname?: string;
  /** Send Celery's task and worker events (`-E`), default false. */
  events?: boolean;
  /** Seconds between `worker-heartbeat` events (default 2, as Celery's). */
  heartbeatInterval?: number;
  /** Answer `ping`, `inspect active` and `revoke` on the `celery.pidbox` exchange (default true). */
  remoteControl?: boolean;
  /** Errors the worker handled (a task message it could not read, a result it could not store). */
  onError?: (error: unknown) => void;
}

export const WORKER_OPTION_NAMES = OptionNames.of<WorkerOptions>({
  tasks: true, queues: true, concurrency: true, prefetchCount: true, acksLate: true, timeLimit: true, softTimeLimit: true,
  hostname: true, events: true, heartbeatInterval: true, remoteControl: true, onError: true,
});

export const TASK_DEFINITION_NAMES = OptionNames.of<TaskDefinition>({
  run: true, acksLate: true, timeLimit: true, softTimeLimit: true, maxRetries: true, defaultRetryDelay: true, ignoreResult: true,
});

export const workerOptionsSchema = z.object({
  queues: z.array(z.string().min(1)).min(1).optional(),
  concurrency: z.number().int().min(1).default(1),
  prefetchCount: z.number().int().min(0).optional(),
  acksLate: z.boolean().default(false),
  timeLimit: z.number().positive().optional(),
  softTimeLimit: z.number().positive().optional(),
  hostname: z.string().min(1).optional(),
  events: z.boolean().default(false),
  heartbeatInterval: z.number().positive().default(2),
  remoteControl: z.boolean().default(true),
});

export const taskDefinitionSchema = z.object({
  acksLate: z.boolean().optional(),
  timeLimit: z.number().positive().optional(),
  softTimeLimit: z.number().positive().optional(),
  maxRetries: z.number().int().min(0).default(3),
  defaultRetryDelay: z.number().min(0).default(180),
  ignoreResult: z.boolean().default(false),
});

/** What `CeleryWorker.stop()` accepts. */
export interface WorkerStopOptions {
  /** Seconds to wait for running tasks before closing (default: the consumer's stop timeout). */
  timeout?: number;
}

export const WORKER_STOP_OPTION_NAMES = OptionNames.of<WorkerStopOptions>({ timeout: true });
export const workerStopOptionsSchema = z.object({ timeout: z.number().finite().min(0).optional() });

export const RETRY_OPTION_NAMES = OptionNames.of<RetryOptions>({ countdown: true, eta: true, maxRetries: true, exc: true, args: true, kwargs: true });
// `exc` is anything the task caught; it is passed through as it is.
export const retryOptionsSchema = z.object({
  countdown: z.number().finite().min(0).optional(),
  eta: z.date().refine((date) => !Number.isNaN(date.getTime()), 'must be a valid Date').optional(),
  maxRetries: z.number().int().min(0).optional(),
  args: z.array(z.unknown()).optional(),
  kwargs: z.record(z.string(), z.unknown()).optional(),
});
