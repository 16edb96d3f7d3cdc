/** `app.task(name)`: a typed handle on a task someone else (Python, or a kelp worker) implements. */
import type { AsyncResult } from './async-result.js';
import type { SendTaskOptions } from './options.js';
import { Signature, type SignatureOptions, type SignatureSender } from './signature.js';

/** What a TaskHandle needs of its app. */
export interface TaskSender extends SignatureSender {
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

  /** A signature of this task for canvas (Celery's `.s()`); a parent's result goes before `args`. */
  s(...args: unknown[]): Signature<R> {
    return new Signature<R>(this.#app, this.name, args);
  }

  /** An immutable signature (Celery's `.si()`): the parent's result is not passed. */
  si(...args: unknown[]): Signature<R> {
    return new Signature<R>(this.#app, this.name, args, {}, {}, true);
  }

  /** A signature with keyword arguments and options (Celery's `.signature()`). */
  signature(args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: SignatureOptions = {}): Signature<R> {
    return new Signature<R>(this.#app, this.name, args, kwargs, options);
  }

  /** Sends the task with arguments, keyword arguments and options (Celery's `apply_async`). */
  applyAsync(args?: A, kwargs?: Readonly<Record<string, unknown>>, options?: SendTaskOptions): Promise<AsyncResult<R>> {
    return this.#app.sendTask<R>(this.name, args ?? [], kwargs ?? {}, options ?? {});
  }
}
