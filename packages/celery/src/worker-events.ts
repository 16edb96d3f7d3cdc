/**
 * Celery's events for a kelp worker (docs/celery.md#events), as `celery worker -E` sends them on
 * Redis: JSON messages on the `celeryev` fanout exchange (Celery turns its topic exchange into a
 * fanout on Redis), routing key the type with `-` as `.` (`task.succeeded`), header `hostname`,
 * transient delivery, and a body with `hostname`, `utcoffset`, `pid`, `clock`, the event's fields,
 * `timestamp` and `type`. `worker-online`, `worker-heartbeat` every `heartbeatInterval` seconds
 * and `worker-offline` let `celery events` and Flower list the worker; the task events
 * (received, started, succeeded, failed, retried) its tasks. Sending is best effort: a failed
 * publish is reported to the worker's `onError`, never fails a task.
 */
import { loadavg } from 'node:os';
import type { Message, Producer } from '@kelp/core';
import { publishEvent } from './events.js';
import { exceptionInfo, tracebackOf } from './exception-info.js';
import { repr } from './py-repr.js';
import type { TaskRequest } from './task-request.js';

/** What `sw_ident` / `sw_ver` tell Flower about the worker. */
const SW_IDENT = 'kelp';
const SW_VER = '0.1.0';

export interface WorkerEventsOptions {
  enabled: boolean;
  hostname: string;
  heartbeatInterval: number;
  app: { tick(): number };
  worker: { readonly active: ReadonlyMap<string, unknown>; readonly processed: number };
  producer: () => Producer;
  onError: (error: unknown) => void;
}

export class WorkerEvents {
  readonly #options: WorkerEventsOptions;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(options: WorkerEventsOptions) {
    this.#options = options;
  }

  get enabled(): boolean {
    return this.#options.enabled;
  }

  async start(): Promise<void> {
    if (!this.enabled) return;
    await this.#send('worker-online', this.#workerFields());
    this.#heartbeat = setInterval(() => void this.#send('worker-heartbeat', this.#workerFields()), this.#options.heartbeatInterval * 1000);
    this.#heartbeat.unref();
  }

  async stop(): Promise<void> {
    if (!this.enabled) return;
    clearInterval(this.#heartbeat);
    await this.#send('worker-offline', this.#workerFields());
  }

  taskReceived(request: TaskRequest, _message: Message): void {
    void this.#send('task-received', {
      uuid: request.id,
      name: request.name,
      args: typeof request.headers['argsrepr'] === 'string' ? request.headers['argsrepr'] : repr(request.args),
      kwargs: typeof request.headers['kwargsrepr'] === 'string' ? request.headers['kwargsrepr'] : repr(request.kwargs),
      root_id: request.rootId,
      parent_id: request.parentId,
      retries: request.retries,
      eta: request.headers['eta'] ?? null,
      expires: request.headers['expires'] ?? null,
    });
  }

  taskStarted(request: TaskRequest): void {
    void this.#send('task-started', { uuid: request.id, pid: process.pid });
  }

  taskSucceeded(request: TaskRequest, value: unknown, runtime: number): void {
    void this.#send('task-succeeded', { uuid: request.id, result: repr(value), runtime });
  }

  taskFailed(request: TaskRequest, error: unknown): void {
    void this.#send('task-failed', { uuid: request.id, exception: exceptionRepr(error), traceback: tracebackOf(error) });
  }

  taskRetried(request: TaskRequest, error: unknown): void {
    void this.#send('task-retried', { uuid: request.id, exception: exceptionRepr(error), traceback: tracebackOf(error) });
  }

  #workerFields(): Record<string, unknown> {
    return {
      freq: this.#options.heartbeatInterval,
      active: this.#options.worker.active.size,
      processed: this.#options.worker.processed,
      loadavg: loadavg().map((n) => Math.round(n * 100) / 100),
      sw_ident: SW_IDENT,
      sw_ver: SW_VER,
      sw_sys: process.platform === 'linux' ? 'Linux' : process.platform,
    };
  }

  async #send(type: string, fields: Record<string, unknown>): Promise<void> {
    if (!this.enabled) return;
    try {
      await publishEvent(this.#options.producer(), { hostname: this.#options.hostname, clock: this.#options.app.tick(), type, fields });
    } catch (error) {
      this.#options.onError(error);
    }
  }
}

/** The `exception` field of task-failed: the repr of the exception, e.g. `ValueError('boom')`. */
function exceptionRepr(error: unknown): string {
  const info = exceptionInfo(error);
  const args = Array.isArray(info.exc_message) ? info.exc_message.map(repr).join(', ') : repr(info.exc_message);
  return `${info.exc_type}(${args})`;
}
