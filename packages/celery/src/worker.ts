/**
 * `CeleryWorker`: runs Node functions for Celery tasks that Python (or Node) sends, as a Celery
 * worker does (docs/celery.md#worker):
 * - ack before the run, or after it with `acksLate` (acked after a failure too, as Celery's
 *   `task_acks_on_failure_or_timeout`); a worker killed mid-task with `acksLate` leaves the message
 *   unacked, so the visibility timeout redelivers it, and the first SUCCESS stored is kept;
 * - an ETA task is held unacked until due, the prefetch limit raised meanwhile (Celery's
 *   `qos.increment_eventually`);
 * - an expired or revoked task is acked and stored as REVOKED with TaskRevokedError;
 * - an unknown task name is rejected without requeue and stored as a NotRegistered FAILURE;
 * - results go to the Redis result backend so Python's `AsyncResult.get()` returns or raises.
 * A task message it cannot read is acked and reported to `onError`; nothing crashes the worker.
 */
import { hostname as osHostname } from 'node:os';
import { Connection, Consumer, ConsumerWorker, EncodeError, parseOptions, Queue, Exchange, type HeaderValue, type Message, type Producer } from '@kelp/core';
import type { AsyncResult } from './async-result.js';
import { CanvasRunner } from './canvas-runner.js';
import { MaxRetriesExceededError } from './errors.js';
import { setLongTimeout } from './long-timeout.js';
import { exceptionInfo, pythonError, tracebackOf } from './exception-info.js';
import type { SendTaskOptions } from './options.js';
import { type RedisResultBackend } from './redis-backend.js';
import { resultMeta, type TaskState } from './result-meta.js';
import { Retry, type RetryOptions, type TaskContext, type TaskDefinition, type TaskFunction } from './task-context.js';
import type { TaskEmbed } from './task-message.js';
import { readTaskRequest, type TaskRequest } from './task-request.js';
import { runWithLimits } from './task-runner.js';
import { RETRY_OPTION_NAMES, retryOptionsSchema, taskDefinitionSchema, TASK_DEFINITION_NAMES, WORKER_OPTION_NAMES, WORKER_STOP_OPTION_NAMES, workerOptionsSchema, workerStopOptionsSchema, type WorkerOptions, type WorkerStopOptions } from './worker-options.js';
import { WorkerEvents } from './worker-events.js';
import { RemoteControl } from './remote-control.js';

export type { WorkerOptions, WorkerStopOptions } from './worker-options.js';

/** What the worker needs of its app (the Celery class). */
export interface WorkerHost {
  /** The broker URL without passwords. */
  readonly broker: string;
  /** A new Connection to the broker (the real URL stays inside the app). */
  openBrokerConnection(): Connection;
  readonly oid: string;
  readonly defaultQueue: string;
  readonly hasBackend: boolean;
  resultBackend(): RedisResultBackend;
  sendTask(name: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, options: SendTaskOptions, embed?: TaskEmbed): Promise<AsyncResult>;
  tick(): number;
  adjustClock(other: number): number;
}

interface ResolvedTask {
  run: TaskFunction;
  acksLate: boolean;
  timeLimit: number | undefined;
  softTimeLimit: number | undefined;
  maxRetries: number;
  defaultRetryDelay: number;
  ignoreResult: boolean;
}

export type CeleryWorkerState = 'idle' | 'running' | 'stopping' | 'stopped';

export class CeleryWorker {
  readonly hostname: string;
  readonly connection: Connection;
  readonly #app: WorkerHost;
  readonly #tasks = new Map<string, ResolvedTask>();
  readonly #options: ReturnType<typeof workerOptionsSchema.parse>;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #queues: Queue[];
  readonly #stop = new AbortController();
  readonly #worker: ConsumerWorker<Consumer>;
  readonly #events: WorkerEvents;
  readonly #control: RemoteControl | undefined;
  readonly #canvas: CanvasRunner;
  /** Task ids revoked by a `revoke` broadcast (Celery keeps them in memory too). */
  readonly revoked = new Set<string>();
  /** Aborts the run of a task revoked with `terminate` (its context's signal). */
  readonly #terminators = new Map<string, (reason: Error) => void>();
  /** The requests running now (for `inspect active`). */
  readonly active = new Map<string, TaskRequest & { started: number; deliveryInfo: Record<string, HeaderValue> }>();
  #consumer: Consumer | undefined;
  readonly #terminated = new Set<string>();
  #producer: Producer | undefined;
  #prefetch: number;
  #held = 0;
  #running: Promise<void> | undefined;
  #onReady: (() => void) | undefined;
  #state: CeleryWorkerState = 'idle';
  #processed = 0;

  constructor(app: WorkerHost, options: WorkerOptions) {
    const { tasks, queues, onError, ...rest } = options;
    WORKER_OPTION_NAMES.check(options, 'worker');
    this.#options = parseOptions(workerOptionsSchema, { ...rest, queues }, 'worker');
    this.#app = app;
    this.#onError = onError;
    this.hostname = this.#options.hostname ?? `kelp${process.pid}@${osHostname()}`;
    for (const [name, task] of Object.entries(tasks ?? {})) this.#tasks.set(name, this.#resolveTask(name, task));
    this.#queues = (this.#options.queues ?? [app.defaultQueue]).map((name) => new Queue(name, { exchange: new Exchange(name, { type: 'direct' }), routingKey: name }));
    this.#prefetch = this.#options.prefetchCount ?? this.#options.concurrency * 4;
    this.connection = app.openBrokerConnection();
    const producer = () => (this.#producer ??= this.connection.Producer());
    this.#events = new WorkerEvents({ enabled: this.#options.events, hostname: this.hostname, app, heartbeatInterval: this.#options.heartbeatInterval, worker: this, producer, onError: (error) => this.#report(error) });
    this.#control = this.#options.remoteControl ? new RemoteControl({ hostname: this.hostname, app, worker: this, producer, onError: (error) => this.#report(error) }) : undefined;
    this.#canvas = new CanvasRunner(app);
    this.#worker = new ConsumerWorker<Consumer>(this.connection, {
      getConsumers: (channel) => {
        this.#consumer = new Consumer(channel, this.#queues, {
          concurrency: this.#options.concurrency,
          prefetchCount: this.#prefetch,
          onMessage: (message) => this.#handle(message),
          onError: (error) => this.#report(error),
          onDecodeError: async (message, error) => {
            // As Celery: a message it cannot decode is acked (dropped) and the error reported.
            this.#report(error);
            await message.ack();
          },
        });
        return this.#control ? [this.#consumer, this.#control.consumer(channel)] : [this.#consumer];
      },
      onConnectionError: (error) => this.#report(error),
      onConsumeReady: () => this.#onReady?.(),
    });
  }

  get state(): CeleryWorkerState {
    return this.#state;
  }

  /** Tasks this worker finished (any outcome) since it started. */
  get processed(): number {
    return this.#processed;
  }

  /** The task names this worker runs. */
  get registered(): string[] {
    return [...this.#tasks.keys()].sort();
  }

  /** Starts consuming; resolves once the consumers are up. */
  async start(): Promise<this> {
    if (this.#state !== 'idle') return this;
    this.#state = 'running';
    const ready = new Promise<void>((resolve, reject) => {
      this.#onReady = resolve;
      this.#running = this.#worker.run({ signal: this.#stop.signal });
      // run() ends only when stopped, or with an error that is not a connection error.
      this.#running.then(() => resolve(), reject);
    });
    await ready;
    await this.#events.start();
    return this;
  }

  /** Stops consuming (waits up to `timeout` seconds for running tasks) and closes the connection. */
  async stop(options: WorkerStopOptions = {}): Promise<void> {
    const parsed = parseOptions(workerStopOptionsSchema, options, 'worker.stop', WORKER_STOP_OPTION_NAMES);
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    if (!wasRunning) {
      await this.connection.close();
      this.#state = 'stopped';
      return;
    }
    await this.#events.stop();
    await this.#worker.stop(parsed.timeout === undefined ? {} : { timeout: parsed.timeout });
    this.#stop.abort(new Error('worker stopped'));
    await this.#running?.catch(() => undefined);
    await this.connection.close();
    this.#state = 'stopped';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Stops a running task for `revoke({ terminate: true })`: its context's signal aborts with a
   * TaskRevokedError and, however its run ends, it is stored as REVOKED ('terminated'). A task
   * that ignores its signal still runs on in the background (JavaScript cannot kill it).
   */
  terminate(taskId: string): boolean {
    const abort = this.#terminators.get(taskId);
    if (!abort) return false;
    this.#terminated.add(taskId);
    abort(pythonError('TaskRevokedError', 'terminated', ['terminated']));
    return true;
  }

  #resolveTask(name: string, task: TaskFunction | TaskDefinition): ResolvedTask {
    if (typeof task === 'function') return { run: task, ...taskDefinitionSchema.parse({}), acksLate: this.#options.acksLate, timeLimit: this.#options.timeLimit, softTimeLimit: this.#options.softTimeLimit };
    const { run, ...settings } = task;
    TASK_DEFINITION_NAMES.check(task, `worker task ${name}`);
    const parsed = parseOptions(taskDefinitionSchema, settings, `worker task ${name}`);
    return {
      run,
      ...parsed,
      acksLate: parsed.acksLate ?? this.#options.acksLate,
      timeLimit: parsed.timeLimit ?? this.#options.timeLimit,
      softTimeLimit: parsed.softTimeLimit ?? this.#options.softTimeLimit,
    };
  }

  async #handle(message: Message): Promise<void> {
    let request: TaskRequest;
    try {
      request = readTaskRequest(message);
    } catch (error) {
      this.#report(error);
      await message.ack();
      return;
    }
    const task = this.#tasks.get(request.name);
    if (!task) {
      // Celery's on_unknown_task: reject without requeue, store NotRegistered, send task-failed.
      await message.reject({ requeue: false });
      const error = pythonError('NotRegistered', `Task of kind '${request.name}' never registered`, [request.name]);
      this.#events.taskFailed(request, error);
      await this.#storeFailure(request, error, 'FAILURE', null);
      return;
    }
    this.#events.taskReceived(request, message);
    if (this.revoked.has(request.id) || (request.expires !== undefined && request.expires <= Date.now())) {
      await this.#revoke(request, message, this.revoked.has(request.id) ? 'revoked' : 'expired');
      return;
    }
    if (request.eta !== undefined && request.eta > Date.now()) {
      this.#hold(request, task, message);
      return;
    }
    await this.#execute(request, task, message);
  }

  /** Keeps an ETA task unacked until due, with room in the prefetch limit for other work. */
  #hold(request: TaskRequest, task: ResolvedTask, message: Message): void {
    this.#held += 1;
    this.#setPrefetch();
    // A long timer: an ETA more than 24.8 days ahead would fire at once with setTimeout.
    const timer = setLongTimeout(() => {
      this.#stop.signal.removeEventListener('abort', onStop);
      this.#held -= 1;
      this.#setPrefetch();
      if (this.revoked.has(request.id)) this.#revoke(request, message, 'revoked').catch((error) => this.#report(error));
      // As Celery 5.2: an ETA task whose `expires` passed while it was held is revoked, not run.
      else if (request.expires !== undefined && request.expires <= Date.now()) this.#revoke(request, message, 'expired').catch((error) => this.#report(error));
      else this.#execute(request, task, message).catch((error) => this.#report(error));
    }, (request.eta ?? 0) - Date.now());
    // On stop the message stays unacked: the channel gives it back for another worker.
    const onStop = () => timer.clear();
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
  }

  #setPrefetch(): void {
    if (this.#prefetch === 0) return;
    this.#consumer?.qos({ prefetchCount: this.#prefetch + this.#held }).catch((error) => this.#report(error));
  }

  async #revoke(request: TaskRequest, message: Message, reason: 'revoked' | 'expired'): Promise<void> {
    await message.ack();
    const error = pythonError('TaskRevokedError', reason, [reason]);
    if (this.#app.hasBackend) {
      await this.#store(request, 'REVOKED', exceptionInfo(error), null);
    }
  }

  async #execute(request: TaskRequest, task: ResolvedTask, message: Message): Promise<void> {
    const acksLate = task.acksLate;
    if (!acksLate) await message.ack();
    const info = message.deliveryInfo;
    this.active.set(request.id, { ...request, started: Date.now(), deliveryInfo: { exchange: info.exchange, routing_key: info.routingKey, priority: request.priority ?? 0, redelivered: info.redelivered } });
    this.#events.taskStarted(request);
    const started = performance.now();
    const outcome = await runWithLimits(
      (signal, abort) => {
        this.#terminators.set(request.id, abort);
        return task.run(...([...request.args, this.#context(request, task, message, signal)] as never[]));
      },
      { timeLimit: request.timeLimit ?? task.timeLimit, softTimeLimit: request.softTimeLimit ?? task.softTimeLimit },
      this.#stop.signal,
    );
    const runtime = (performance.now() - started) / 1000;
    this.active.delete(request.id);
    this.#terminators.delete(request.id);
    try {
      if (this.#terminated.delete(request.id)) {
        // Revoked with terminate while running: stored as REVOKED, as Celery does, whatever the run did.
        await this.#store(request, 'REVOKED', exceptionInfo(pythonError('TaskRevokedError', 'terminated', ['terminated'])), null);
      } else if (outcome.ok) {
        this.#events.taskSucceeded(request, outcome.value, runtime);
        // As Celery's tracer: callbacks and the next chain step go out before the result is stored.
        await this.#canvas.onSuccess(request, outcome.value).catch((error: unknown) => this.#report(error));
        if (!(task.ignoreResult || request.ignoreResult) && this.#app.hasBackend) await this.#store(request, 'SUCCESS', outcome.value, null);
      } else if (outcome.error instanceof Retry) {
        this.#events.taskRetried(request, outcome.error);
      } else {
        this.#events.taskFailed(request, outcome.error);
        await this.#storeFailure(request, outcome.error, 'FAILURE', tracebackOf(outcome.error));
        await this.#canvas.onFailure(request).catch((error: unknown) => this.#report(error));
      }
    } finally {
      this.#processed += 1;
      if (acksLate) await message.ack();
    }
  }

  #context(request: TaskRequest, task: ResolvedTask, message: Message, signal: AbortSignal): TaskContext {
    return {
      id: request.id,
      name: request.name,
      args: request.args,
      kwargs: request.kwargs,
      retries: request.retries,
      eta: request.eta === undefined ? null : new Date(request.eta),
      expires: request.expires === undefined ? null : new Date(request.expires),
      headers: request.headers,
      deliveryInfo: message.deliveryInfo,
      rootId: request.rootId,
      parentId: request.parentId,
      groupId: request.groupId,
      hostname: this.hostname,
      signal,
      retry: (options) => this.#retry(request, task, message, options ?? {}),
    };
  }

  /** Celery's Task.retry: the same task again with retries + 1, the RETRY state stored. */
  async #retry(request: TaskRequest, task: ResolvedTask, message: Message, given: RetryOptions): Promise<never> {
    // A misspelt option (`countdow`) would otherwise fall back to the 180 s default unseen.
    const { exc, ...checked } = given;
    const options: RetryOptions = { ...parseOptions(retryOptionsSchema, checked, 'retry', RETRY_OPTION_NAMES), ...(exc === undefined ? {} : { exc }) };
    const maxRetries = options.maxRetries ?? task.maxRetries;
    if (request.retries >= maxRetries) {
      if (options.exc !== undefined) throw options.exc;
      throw Object.assign(new MaxRetriesExceededError(`Can't retry ${request.name}[${request.id}] args:${JSON.stringify(request.args)} kwargs:${JSON.stringify(request.kwargs)}`), { excType: 'MaxRetriesExceededError' });
    }
    const when = options.eta ?? new Date(Date.now() + (options.countdown ?? task.defaultRetryDelay) * 1000);
    const info = message.deliveryInfo;
    await this.#app.sendTask(request.name, options.args ?? request.args, options.kwargs ?? request.kwargs, {
      taskId: request.id,
      retries: request.retries + 1,
      eta: when,
      ...(info.exchange === '' ? { queue: info.routingKey } : { exchange: info.exchange, routingKey: info.routingKey, queue: info.queue ?? info.routingKey }),
      ...(typeof request.headers['expires'] === 'string' ? { expires: request.headers['expires'] } : {}),
      ...(request.timeLimit === undefined ? {} : { timeLimit: request.timeLimit }),
      ...(request.softTimeLimit === undefined ? {} : { softTimeLimit: request.softTimeLimit }),
      ...(request.rootId ? { rootId: request.rootId } : {}),
      ...(request.parentId ? { parentId: request.parentId } : {}),
      ...(request.groupId ? { groupId: request.groupId } : {}),
      ...(request.groupIndex === null ? {} : { groupIndex: request.groupIndex }),
      ...(request.priority === undefined ? {} : { priority: request.priority }),
      ...(request.replyTo ? { replyTo: request.replyTo } : {}),
      ignoreResult: request.ignoreResult,
    }, request.embed);
    const seconds = Math.max(0, Math.round((when.getTime() - Date.now()) / 1000));
    const reason = options.exc === undefined ? `Retry in ${seconds}s` : `Retry in ${seconds}s: ${describe(options.exc)}`;
    const retry = new Retry(reason, when, { cause: options.exc });
    if (this.#app.hasBackend) {
      await this.#store(request, 'RETRY', { exc_type: 'Retry', exc_message: [reason], exc_module: 'celery.exceptions' }, tracebackOf(options.exc ?? retry));
    }
    throw retry;
  }

  async #storeFailure(request: TaskRequest, error: unknown, state: TaskState, traceback: string | null): Promise<void> {
    if (!this.#app.hasBackend) return;
    await this.#store(request, state, exceptionInfo(error), traceback);
  }

  async #store(request: TaskRequest, state: TaskState, result: unknown, traceback: string | null): Promise<void> {
    try {
      let meta = resultMeta(request.id, state, result, traceback, { groupId: request.groupId, parentId: request.parentId });
      try {
        await this.#app.resultBackend().store(meta);
      } catch (error) {
        if (!(error instanceof EncodeError) || state !== 'SUCCESS') throw error;
        // A return value the result serializer cannot encode fails the task, as in Celery.
        const failure = Object.assign(new Error(error.message), { excType: 'EncodeError', excModule: 'kombu.exceptions' });
        meta = resultMeta(request.id, 'FAILURE', exceptionInfo(failure), tracebackOf(error), { groupId: request.groupId, parentId: request.parentId });
        await this.#app.resultBackend().store(meta);
      }
      if (request.embed.chord !== null && (state === 'SUCCESS' || state === 'FAILURE')) await this.#canvas.onChordPart(request, meta);
    } catch (error) {
      this.#report(error);
    }
  }

  #report(error: unknown): void {
    try {
      this.#onError?.(error);
    } catch {
      // A throwing error handler must not stop the worker.
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}('${error.message}')` : String(error);
}
