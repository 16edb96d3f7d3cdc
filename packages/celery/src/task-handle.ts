/** `app.task(name)`: a typed handle on a task someone else (Python, or a kelp worker) implements. */
import type { AsyncResult } from './async-result.js';
import type { SendTaskOptions } from './options.js';

/** What a TaskHandle needs of its app. */
export interface TaskSender {
  sendTask<R>(name: string, args?: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>, options?: SendTaskOptions): Promise<AsyncResult<R>>;
}

export class TaskHandle<A extends unknown[] = unknown[], R = unknown> {
  readonly name: string;
  readonly #app: TaskSender;

  constructor(app: TaskSender, name: string) {
    this.#app = app;
    this.name = name;
  }

  /** Sends the task with positional arguments (Celery's `delay`). */
  delay(...args: A): Promise<AsyncResult<R>> {
    return this.#app.sendTask<R>(this.name, args, {});
  }

  /** Sends the task with arguments, keyword arguments and options (Celery's `apply_async`). */
  applyAsync(args?: A, kwargs?: Readonly<Record<string, unknown>>, options?: SendTaskOptions): Promise<AsyncResult<R>> {
    return this.#app.sendTask<R>(this.name, args ?? [], kwargs ?? {}, options ?? {});
  }
}
