/**
 * The options of the Celery app and of sending a task, their names (a misspelt one is refused with
 * a did-you-mean) and their validation. Durations are in seconds, as in Celery.
 */
import { OptionNames, type ConnectionOptions, type HeaderValue } from '@kelp/core';
import { z } from 'zod';
import type { TaskRoutes } from './routes.js';

export type TaskSerializer = 'json' | 'msgpack';

export interface CeleryOptions {
  /** The broker URL (`redis://...`, or `memory://` for tests); Celery's `broker_url`. */
  broker: string;
  /**
   * The result backend URL, Celery's `result_backend`: `redis://`, `rediss://` (TLS), `valkey://`,
   * `valkeys://` or `redis+socket://`, with the broker URLs' syntax (user, password, db, `ssl_*`
   * keys). Without it results are not stored or read.
   */
  backend?: string;
  /**
   * Receives the result backend's connection errors (password scrubbed) while ioredis reconnects;
   * without it they are only the `cause` of a `get()` that times out. Never printed.
   */
  onError?: (error: Error) => void;
  /** Celery's `task_default_queue` (default `celery`). */
  defaultQueue?: string;
  /** Celery's `task_serializer`: `json` (default) or `msgpack`. */
  taskSerializer?: TaskSerializer;
  /** Celery's `result_serializer`: `json` (default) or `msgpack`. */
  resultSerializer?: TaskSerializer;
  /** Seconds a stored result lives (Celery's `result_expires`, default 1 day); 0 keeps it for ever. */
  resultExpires?: number;
  /** Celery's `task_routes`. */
  routes?: TaskRoutes;
  /** The `origin` header (default `<pid>@<hostname>`, as Celery's `anon_nodename`). */
  origin?: string;
  /** Send a `task-sent` event for every task sent (Celery's `task_send_sent_event`), default false. */
  sendSentEvent?: boolean;
  /**
   * Who holds a task with a `countdown` / `eta` until it is due. `worker` (the default, as Celery):
   * it is queued at once and the worker that takes it keeps it in memory until then. `broker`:
   * it waits in kelp's delayed set in Redis and is queued when due, moved by any running kelp
   * process (a kelp worker, consumer or `kelp consume`); a Python worker sees it only once a kelp
   * process has moved it (docs/celery.md#eta-tasks-held-by-the-broker).
   */
  etaDelivery?: 'worker' | 'broker';
  /** Options for the broker `Connection`. */
  connectionOptions?: ConnectionOptions;
}

export const CELERY_OPTION_NAMES = OptionNames.of<CeleryOptions>({
  broker: true, backend: true, defaultQueue: true, taskSerializer: true, resultSerializer: true, resultExpires: true,
  routes: true, origin: true, sendSentEvent: true, etaDelivery: true, connectionOptions: true, onError: true,
});

const serializerSchema = z.enum(['json', 'msgpack']);

export const celeryOptionsSchema = z.object({
  broker: z.string().min(1),
  // ioredis opens the backend: a Redis URL (Celery's `redis://` / `rediss://` result backends).
  // Parsed as broker URLs are (backend-url.ts) when the backend is first opened; checked for its
  // scheme here, so a wrong one fails at `new Celery()`.
  backend: z
    .string()
    .regex(/^(redis|rediss|valkey|valkeys|redis\+socket|unix):\/\//i, { message: 'must be a redis://, rediss://, valkey://, valkeys:// or redis+socket:// URL (the Redis result backend)' })
    .optional(),
  defaultQueue: z.string().min(1).default('celery'),
  taskSerializer: serializerSchema.default('json'),
  resultSerializer: serializerSchema.default('json'),
  resultExpires: z.number().finite().min(0).default(86_400),
  origin: z.string().min(1).optional(),
  sendSentEvent: z.boolean().default(false),
  etaDelivery: z.enum(['worker', 'broker']).default('worker'),
});

/** What `sendTask` / `applyAsync` accept, as Celery's `apply_async` in camelCase. */
export interface SendTaskOptions {
  /** Seconds from now before the task may run (written as the `eta` header, as Celery does). */
  countdown?: number;
  /** The earliest time the task may run. */
  eta?: Date | string;
  /** Seconds from now, or a time, after which the task is revoked instead of run. */
  expires?: number | Date | string;
  /** 0-9; on Redis 0 is consumed first. */
  priority?: number;
  /** The queue (default: the route's, else the app's default queue). */
  queue?: string;
  routingKey?: string;
  exchange?: string;
  /** The `retries` header (how many times the task has already been retried). */
  retries?: number;
  /** Hard time limit in seconds. */
  timeLimit?: number;
  /** Soft time limit in seconds. */
  softTimeLimit?: number;
  /** Ask the worker not to store a result. */
  ignoreResult?: boolean;
  /** Extra headers, merged over Celery's (as Celery's `headers=`). */
  headers?: Record<string, HeaderValue>;
  /** The task id (default: a new UUID). */
  taskId?: string;
  /** Override the app's `taskSerializer` for this task. */
  serializer?: TaskSerializer;
  rootId?: string;
  parentId?: string;
  groupId?: string;
  groupIndex?: number;
  shadow?: string;
  /** The `reply_to` property (default: the app's own id, as Celery's `thread_oid`). */
  replyTo?: string;
  signal?: AbortSignal;
}

export const SEND_TASK_OPTION_NAMES = OptionNames.of<SendTaskOptions>({
  countdown: true, eta: true, expires: true, priority: true, queue: true, routingKey: true, exchange: true, retries: true,
  timeLimit: true, softTimeLimit: true, ignoreResult: true, headers: true, taskId: true, serializer: true, rootId: true,
  parentId: true, groupId: true, groupIndex: true, shadow: true, replyTo: true, signal: true,
});

const timeSchema = z.union([z.date(), z.string().min(1)]);

export const sendTaskOptionsSchema = z.object({
  countdown: z.number().finite().min(0).optional(),
  eta: timeSchema.optional(),
  expires: z.union([z.number().finite(), timeSchema]).optional(),
  priority: z.number().int().min(0).max(9).optional(),
  queue: z.string().min(1).optional(),
  routingKey: z.string().optional(),
  exchange: z.string().optional(),
  retries: z.number().int().min(0).default(0),
  timeLimit: z.number().finite().positive().optional(),
  softTimeLimit: z.number().finite().positive().optional(),
  ignoreResult: z.boolean().default(false),
  taskId: z.string().min(1).optional(),
  serializer: serializerSchema.optional(),
  rootId: z.string().min(1).optional(),
  parentId: z.string().min(1).optional(),
  groupId: z.string().min(1).optional(),
  groupIndex: z.number().int().min(0).optional(),
  shadow: z.string().min(1).optional(),
  replyTo: z.string().optional(),
});
