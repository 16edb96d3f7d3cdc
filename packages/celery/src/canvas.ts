/**
 * Canvas as Celery 5.2 sends it, so that Python and kelp workers can each run any step:
 * - `chain(a, b, c)`: `a` is sent with the rest, reversed, in its message's `chain`; the worker that
 *   finishes a step sends the next with the result put before its arguments;
 * - `group([a, b])`: every task sent with the same `group` header;
 * - `chord([a, b], body)`: the header tasks sent with the group id, their `group_index`, and the
 *   body in `chord`; the size stored in `celery-taskset-meta-<group>.s`; each worker adds its result
 *   to the `<group>.j` zset and the one that completes it sends the body (chord-join.ts).
 * Every task id is chosen up front, so results are known before anything runs.
 */
import { randomUUID } from 'node:crypto';
import { ConfigurationError } from '@kelp/core';
import type { AsyncResult } from './async-result.js';
import type { SendTaskOptions } from './options.js';
import { groupKey, type RedisResultBackend } from './redis-backend.js';
import type { Signature } from './signature.js';

/** What the canvas needs of the app: sending, results and the backend. */
export interface CanvasApp {
  readonly oid: string;
  AsyncResult<R>(id: string): AsyncResult<R>;
  resultBackend(): RedisResultBackend;
}

/** The results of a group, in the group's order. */
export class GroupResult<R = unknown> {
  readonly id: string;
  readonly results: ReadonlyArray<AsyncResult<R>>;

  constructor(id: string, results: ReadonlyArray<AsyncResult<R>>) {
    this.id = id;
    this.results = results;
  }

  /** Every member's value, in order; the first failure throws (Celery's `join`). */
  async get(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<R[]> {
    return Promise.all(this.results.map((result) => result.get(options)));
  }

  async ready(): Promise<boolean> {
    return (await Promise.all(this.results.map((result) => result.ready()))).every(Boolean);
  }
}

function appOf(signatures: readonly Signature[], what: string): CanvasApp {
  const first = signatures[0];
  if (!first) throw new ConfigurationError(`${what} needs at least one signature`);
  return first.app as unknown as CanvasApp;
}

function withId<R>(sig: Signature<R>, app: CanvasApp, options: SendTaskOptions = {}): Signature<R> {
  return sig.clone([], { taskId: sig.options.taskId ?? randomUUID(), replyTo: sig.options.replyTo ?? app.oid, ...options });
}

export class Chain<R = unknown> {
  readonly tasks: readonly Signature[];

  constructor(tasks: readonly Signature[]) {
    this.tasks = tasks;
  }

  /** Sends the first task with the others in its `chain`; resolves with the last task's result. */
  async applyAsync(args: readonly unknown[] = [], options: SendTaskOptions = {}): Promise<AsyncResult<R>> {
    const app = appOf(this.tasks, 'chain()');
    const steps = this.tasks.map((sig) => withId(sig, app));
    const [first, ...rest] = steps as [Signature, ...Signature[]];
    await first.applyAsync(args, options, { chain: rest.reverse().map((sig) => sig.toDict() as never) });
    return app.AsyncResult<R>((steps[steps.length - 1] as Signature).options.taskId as string);
  }

  delay(...args: unknown[]): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }
}

export class Group<R = unknown> {
  readonly tasks: readonly Signature[];

  constructor(tasks: readonly Signature[]) {
    this.tasks = tasks;
  }

  async applyAsync(args: readonly unknown[] = [], options: SendTaskOptions = {}): Promise<GroupResult<R>> {
    const app = appOf(this.tasks, 'group()');
    const groupId = options.groupId ?? randomUUID();
    const results = await Promise.all(this.tasks.map((sig) => withId(sig, app, { groupId }).applyAsync(args, options) as Promise<AsyncResult<R>>));
    return new GroupResult<R>(groupId, results);
  }

  delay(...args: unknown[]): Promise<GroupResult<R>> {
    return this.applyAsync(args);
  }
}

export class Chord<R = unknown> {
  readonly header: readonly Signature[];
  readonly body: Signature<R>;

  constructor(header: readonly Signature[], body: Signature<R>) {
    this.header = header;
    this.body = body;
  }

  /** Sends the header tasks; the worker finishing the last one sends the body with the list of results. */
  async applyAsync(args: readonly unknown[] = [], options: SendTaskOptions = {}): Promise<AsyncResult<R>> {
    const app = appOf([this.body], 'chord()');
    const groupId = options.groupId ?? randomUUID();
    const body = withId(this.body, app);
    // Celery's set_chord_size: the backend's set, so SETEX and PUBLISH like any other value.
    const backend = app.resultBackend();
    await backend.set(groupKey(groupId, '.s'), String(this.header.length));
    const chordDict = body.toDict();
    await Promise.all(this.header.map((sig, index) => withId(sig, app, { groupId, groupIndex: index }).applyAsync(args, options, { chord: chordDict as never })));
    return app.AsyncResult<R>(body.options.taskId as string);
  }
}

/** Celery's `chain(a, b, c)`. */
export function chain<R = unknown>(...tasks: Signature[]): Chain<R> {
  return new Chain<R>(tasks);
}

/** Celery's `group([a, b])`. */
export function group<R = unknown>(tasks: readonly Signature<R>[]): Group<R> {
  return new Group<R>(tasks);
}

/** Celery's `chord([a, b], body)`. */
export function chord<R = unknown>(header: readonly Signature[], body: Signature<R>): Chord<R> {
  return new Chord<R>(header, body);
}
