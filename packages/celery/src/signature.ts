/**
 * `Signature`: a task call that can be sent later, as Celery's `signature` / `task.s()`, and its
 * wire form, the dict Celery 5.2 embeds in a task message's `chain`, `chord`, `callbacks` and
 * `errbacks`: `{"task", "args", "kwargs", "options", "subtask_type", "immutable"}` with the
 * options in Celery's snake_case (`task_id`, `reply_to`, `queue`, ...).
 */
import type { HeaderValue } from '@kelp/core';
import type { AsyncResult } from './async-result.js';
import type { SendTaskOptions } from './options.js';
import type { TaskEmbed } from './task-message.js';

/** The signature dict on the wire. */
export interface SignatureDict {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: string | null;
  immutable: boolean;
  [extra: string]: unknown;
}

/** What a signature needs to be sent: the app. */
export interface SignatureSender {
  sendTask(name: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, options: SendTaskOptions, embed?: TaskEmbed): Promise<AsyncResult>;
  readonly oid: string;
}

/** Signature options: sendTask's, without the AbortSignal. */
export type SignatureOptions = Omit<SendTaskOptions, 'signal'>;

const WIRE_NAMES: Record<string, string> = {
  taskId: 'task_id', replyTo: 'reply_to', routingKey: 'routing_key', timeLimit: 'time_limit', softTimeLimit: 'soft_time_limit',
  ignoreResult: 'ignore_result', rootId: 'root_id', parentId: 'parent_id', groupId: 'group_id', groupIndex: 'group_index',
};
const OPTION_NAMES: Record<string, string> = Object.fromEntries(Object.entries(WIRE_NAMES).map(([k, v]) => [v, k]));
/** The options a signature dict may carry that sendTask takes (others, such as `link`, are handled apart). */
const SENDABLE = new Set(['countdown', 'eta', 'expires', 'priority', 'queue', 'routingKey', 'exchange', 'retries', 'timeLimit', 'softTimeLimit', 'ignoreResult', 'headers', 'taskId', 'serializer', 'rootId', 'parentId', 'groupId', 'groupIndex', 'shadow', 'replyTo']);

export class Signature<R = unknown> {
  readonly task: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly options: SignatureOptions;
  /** An immutable signature ignores its parent's result (Celery's `.si()`). */
  readonly immutable: boolean;
  /** Linked callbacks and errbacks (Celery's `link` / `link_error` options). */
  readonly links: Signature[] = [];
  readonly errorLinks: Signature[] = [];
  readonly #app: SignatureSender;

  constructor(app: SignatureSender, task: string, args: readonly unknown[] = [], kwargs: Readonly<Record<string, unknown>> = {}, options: SignatureOptions = {}, immutable = false) {
    this.#app = app;
    this.task = task;
    this.args = args;
    this.kwargs = kwargs;
    this.options = options;
    this.immutable = immutable;
  }

  get app(): SignatureSender {
    return this.#app;
  }

  /** A copy with more options (and, when not immutable, `args` put before its own). */
  clone(args: readonly unknown[] = [], options: SignatureOptions = {}): Signature<R> {
    const copy = new Signature<R>(this.#app, this.task, this.immutable ? this.args : [...args, ...this.args], this.kwargs, { ...this.options, ...options }, this.immutable);
    copy.links.push(...this.links);
    copy.errorLinks.push(...this.errorLinks);
    return copy;
  }

  /** Runs `callback` with this task's result when it succeeds (Celery's `link`). */
  link(callback: Signature): this {
    this.links.push(callback);
    return this;
  }

  /** Runs `errback` with this task's id when it fails (Celery's `link_error`). */
  linkError(errback: Signature): this {
    this.errorLinks.push(errback);
    return this;
  }

  /** Sends the task (Celery's `apply_async`): `args` go before the signature's own unless it is immutable. */
  applyAsync(args: readonly unknown[] = [], options: SendTaskOptions = {}, embed: Partial<TaskEmbed> = {}): Promise<AsyncResult<R>> {
    const { signal, ...rest } = options;
    const sig = this.clone(args, rest);
    return this.#app.sendTask(sig.task, sig.args, sig.kwargs, { ...sig.options, ...(signal ? { signal } : {}) }, {
      callbacks: sig.links.length > 0 ? sig.links.map((s) => s.toDict() as unknown as HeaderValue) : null,
      errbacks: sig.errorLinks.length > 0 ? sig.errorLinks.map((s) => s.toDict() as unknown as HeaderValue) : null,
      chain: null,
      chord: null,
      ...embed,
    }) as Promise<AsyncResult<R>>;
  }

  delay(...args: unknown[]): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /** The dict Celery embeds in messages. */
  toDict(): SignatureDict {
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this.options)) {
      if (value === undefined) continue;
      options[WIRE_NAMES[key] ?? key] = value instanceof Date ? value.toISOString() : value;
    }
    if (this.links.length > 0) options['link'] = this.links.map((s) => s.toDict());
    if (this.errorLinks.length > 0) options['link_error'] = this.errorLinks.map((s) => s.toDict());
    return { task: this.task, args: [...this.args], kwargs: { ...this.kwargs }, options, subtask_type: null, immutable: this.immutable };
  }

  /** Reads a signature dict that Celery (or kelp) embedded in a message. */
  static fromDict(app: SignatureSender, dict: SignatureDict): Signature {
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(dict.options ?? {})) {
      const name = OPTION_NAMES[key] ?? key;
      if (SENDABLE.has(name) && value !== null && value !== undefined) options[name] = value;
    }
    const sig = new Signature(app, dict.task, dict.args ?? [], dict.kwargs ?? {}, options as SignatureOptions, dict.immutable === true);
    const links = dict.options?.['link'];
    const errorLinks = dict.options?.['link_error'];
    if (Array.isArray(links)) for (const link of links) sig.links.push(Signature.fromDict(app, link as SignatureDict));
    if (Array.isArray(errorLinks)) for (const link of errorLinks) sig.errorLinks.push(Signature.fromDict(app, link as SignatureDict));
    return sig;
  }
}

export function isSignatureDict(value: unknown): value is SignatureDict {
  return typeof value === 'object' && value !== null && typeof (value as { task?: unknown }).task === 'string';
}
