/**
 * @kelp/celery: Celery from Node, both ways (docs/celery.md). Send tasks to Python Celery workers
 * and await their results, and run Node functions for tasks that Python sends with `.delay()`,
 * over Celery's protocol 2 on kelp's Redis transport and Celery's Redis result backend.
 *
 * The broker URL is opened with kelp's `Connection`: import `kelp` (which registers the
 * `redis://` and `memory://` transports) rather than this package alone.
 */
export { Celery } from './app.js';
export { AsyncResult, type GetOptions, type RevokeOptions } from './async-result.js';
export { Chain, Chord, Group, GroupResult, chain, chord, group } from './canvas.js';
export { Signature, type SignatureDict, type SignatureOptions } from './signature.js';
export { CeleryTaskError, MaxRetriesExceededError, ResultBackendClosedError, ResultTimeoutError, TaskRevokedError, type ExceptionInfo } from './errors.js';
export type { CeleryOptions, SendTaskOptions, TaskSerializer } from './options.js';
export { READY_STATES, type ResultMeta, type TaskState } from './result-meta.js';
export type { TaskRoute, TaskRouter, TaskRoutes } from './routes.js';
export { Retry, type RetryOptions, type TaskContext, type TaskDefinition, type TaskFunction } from './task-context.js';
export { TaskHandle } from './task-handle.js';
export { CeleryWorker, type CeleryWorkerState, type WorkerOptions, type WorkerStopOptions } from './worker.js';
