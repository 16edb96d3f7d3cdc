/**
 * `Celery`: the app object of kelp's Celery support, named and shaped after Python's. It sends
 * protocol 2 task messages through a kelp `Connection` to the broker, reads and writes results in
 * Celery's Redis result backend, broadcasts remote-control commands, and builds workers.
 *
 * ```ts
 * const app = new Celery({ broker: 'redis://localhost:6379/0', backend: 'redis://localhost:6379/1' });
 * const add = app.task<[number, number], number>('tasks.add');
 * const result = await add.delay(2, 3);
 * console.log(await result.get({ timeout: 10 })); // 5
 * ```
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigurationError, Connection, Exchange, parseOptions, Queue, redactUrl, throwIfAborted, type Producer } from '@kelp/core';
import { AsyncResult, REVOKE_OPTION_NAMES, revokeOptionsSchema, type ResultHost, type RevokeOptions } from './async-result.js';
import { CELERY_OPTION_NAMES, celeryOptionsSchema, SEND_TASK_OPTION_NAMES, sendTaskOptionsSchema, type CeleryOptions, type SendTaskOptions, type TaskSerializer } from './options.js';
import { broadcast } from './pidbox.js';
import { publishEvent } from './events.js';
import { backendTarget } from './backend-url.js';
import { RedisResultBackend } from './redis-backend.js';
import { lookupRoute, type TaskRoutes } from './routes.js';
import { buildTaskMessage, EMPTY_EMBED, type TaskEmbed } from './task-message.js';
import { Signature, type SignatureOptions } from './signature.js';
import { TaskHandle } from './task-handle.js';
import { CeleryWorker, type WorkerOptions } from './worker.js';

const NO_SEND_OPTIONS = sendTaskOptionsSchema.parse({});

function isEmpty(object: object): boolean {
  for (const _ in object) return false;
  return true;
}

export class Celery implements ResultHost {
  /** The broker URL, its passwords replaced by `**` (the app keeps the real one to itself). */
  readonly broker: string;
  readonly #broker: string;
  /** The result backend URL, its password replaced by `**`. */
  readonly backendUrl: string | undefined;
  readonly #backendUrl: string | undefined;
  readonly defaultQueue: string;
  readonly taskSerializer: TaskSerializer;
  readonly resultSerializer: TaskSerializer;
  /** Seconds a stored result lives (Celery's `result_expires`). */
  readonly resultExpires: number;
  readonly routes: TaskRoutes | undefined;
  /** Whether a `task-sent` event follows every task sent (Celery's `task_send_sent_event`). */
  readonly sendSentEvent: boolean;
  /** Who holds a task with an ETA until it is due: its worker (Celery's way) or kelp's delayed set. */
  readonly etaDelivery: 'worker' | 'broker';
  /** The `origin` header of the tasks this app sends. */
  readonly origin: string;
  /** The `reply_to` of the tasks this app sends (Celery's `thread_oid`: one id per app). */
  readonly oid: string = randomUUID();
  readonly #connectionOptions: CeleryOptions['connectionOptions'];
  #connection: Connection | undefined;
  #producer: Producer | undefined;
  #backend: RedisResultBackend | undefined;
  readonly #onError: ((error: Error) => void) | undefined;
  #clock = 0;
  readonly #declared = new Set<string>();

  constructor(options: CeleryOptions) {
    const { routes, connectionOptions, onError, ...rest } = options;
    const parsed = parseOptions(celeryOptionsSchema, rest, 'Celery', CELERY_OPTION_NAMES);
    this.#broker = parsed.broker;
    this.broker = redactUrl(parsed.broker);
    this.#backendUrl = parsed.backend;
    // Parsed now so that a bad backend URL fails here, not at the first get().
    this.backendUrl = parsed.backend === undefined ? undefined : backendTarget(parsed.backend).redacted;
    this.defaultQueue = parsed.defaultQueue;
    this.taskSerializer = parsed.taskSerializer;
    this.resultSerializer = parsed.resultSerializer;
    this.resultExpires = parsed.resultExpires;
    this.routes = routes;
    this.sendSentEvent = parsed.sendSentEvent;
    this.etaDelivery = parsed.etaDelivery;
    this.origin = parsed.origin ?? `node${process.pid}@${hostname()}`;
    this.#connectionOptions = connectionOptions;
    this.#onError = onError;
  }


  /** A new Connection to the broker with the app's options (the worker opens its own). */
  openBrokerConnection(): Connection {
    return new Connection(this.#broker, this.#connectionOptions ?? {});
  }

  /** The broker connection tasks are sent on (opened on first use). */
  get connection(): Connection {
    this.#connection ??= this.openBrokerConnection();
    return this.#connection;
  }

  /** A typed handle on task `name`, with `.delay()` and `.applyAsync()`. */
  task<A extends unknown[] = unknown[], R = unknown>(name: string): TaskHandle<A, R> {
    return new TaskHandle<A, R>(this, name);
  }

  /**
   * Sends task `name` (Celery's `send_task`): builds the protocol 2 message, routes it (options,
   * then `routes`, then the default queue) and publishes it. Resolves once the broker holds it.
   */
  async sendTask<R = unknown>(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: SendTaskOptions = {},
    embed: TaskEmbed = EMPTY_EMBED,
  ): Promise<AsyncResult<R>> {
    const { headers, signal, ...rest } = options;
    SEND_TASK_OPTION_NAMES.check(options, 'sendTask');
    if (!Array.isArray(args)) throw new ConfigurationError('sendTask: `args` must be an array (Celery: a list or tuple)', { option: 'args' });
    if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
      throw new ConfigurationError('sendTask: `kwargs` must be a plain object (Celery: a mapping)', { option: 'kwargs' });
    }
    throwIfAborted(signal);
    // `delay()` passes no options: skip the validation that has nothing to validate (hot path).
    const parsed = { ...(isEmpty(rest) ? NO_SEND_OPTIONS : parseOptions(sendTaskOptionsSchema, rest, 'sendTask')), headers };
    const route = lookupRoute(this.routes, name, args, kwargs) ?? {};
    const queueName = parsed.queue ?? route.queue ?? this.defaultQueue;
    let exchange = parsed.exchange ?? route.exchange;
    let routingKey = parsed.routingKey ?? route.routingKey;
    // Celery's send_task_message: a direct route without both an exchange and a routing key
    // goes to the anonymous exchange with the queue name as routing key.
    if (!exchange || !routingKey) {
      exchange = '';
      routingKey = queueName;
    }
    const priority = parsed.priority ?? route.priority;
    const message = buildTaskMessage({
      id: parsed.taskId ?? randomUUID(),
      name,
      args,
      kwargs,
      options: parsed,
      embed,
      origin: this.origin,
      replyTo: this.oid,
      serializer: parsed.serializer ?? this.taskSerializer,
    });
    // Declared by the first send to a queue only, even when many are in flight at once: delivery
    // through the anonymous exchange does not need the binding, Celery workers declare it too.
    const declare = this.#declared.has(queueName) ? undefined : [new Queue(queueName, { exchange: new Exchange(queueName, { type: 'direct' }), routingKey: queueName })];
    this.#declared.add(queueName);
    await this.producer().publish(message.body, {
      exchange,
      routingKey,
      contentType: message.contentType,
      contentEncoding: message.contentEncoding,
      headers: message.headers,
      correlationId: message.correlationId,
      replyTo: message.replyTo,
      deliveryMode: 2,
      ...(priority === undefined ? {} : { priority }),
      // No `expiration` property, unlike Celery: kelp's transport would drop the message once it
      // is due, and a worker could no longer store the REVOKED state Celery's `expires` asks for.
      ...(declare ? { declare } : {}),
      // The eta header stays as Celery writes it: a worker that takes the task once it is due
      // runs it at once, and one that takes it early (a kelp mover's clock ahead) still waits.
      ...(this.etaDelivery === 'broker' && typeof message.headers['eta'] === 'string' ? { eta: message.headers['eta'] } : {}),
      retry: true,
      ...(signal ? { signal } : {}),
    });
    if (this.sendSentEvent) {
      const h = message.headers;
      await publishEvent(this.producer(), {
        hostname: this.origin,
        clock: this.tick(),
        type: 'task-sent',
        fields: {
          uuid: message.id, root_id: h['root_id'], parent_id: h['parent_id'], name, args: h['argsrepr'], kwargs: h['kwargsrepr'],
          retries: h['retries'], eta: h['eta'], expires: h['expires'], queue: queueName, exchange, routing_key: routingKey,
        },
      });
    }
    return new AsyncResult<R>(message.id, this);
  }

  /** A signature of task `name` for canvas (Celery's `app.signature`). */
  signature<R = unknown>(name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: SignatureOptions = {}): Signature<R> {
    return new Signature<R>(this, name, args, kwargs, options);
  }

  /** A handle on the result of task `id`. */
  AsyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this);
  }

  /** Broadcasts Celery's `revoke` for `taskId`; workers then skip it (stored as REVOKED). */
  async revoke(taskId: string | readonly string[], options: RevokeOptions = {}): Promise<void> {
    const { terminate, signal } = parseOptions(revokeOptionsSchema, options, 'revoke', REVOKE_OPTION_NAMES);
    await broadcast(this.producer(), 'revoke', { task_id: typeof taskId === 'string' ? taskId : [...taskId], terminate, signal }, { clock: this.tick() });
  }

  /** A worker that runs Node functions for the tasks named in `options.tasks`. */
  worker(options: WorkerOptions): CeleryWorker {
    return new CeleryWorker(this, options);
  }

  /** The result backend; throws ConfigurationError when the app has no `backend`. */
  resultBackend(): RedisResultBackend {
    if (this.backendUrl === undefined) {
      throw new ConfigurationError('This Celery app has no result backend: pass `backend: "redis://..."` to new Celery()', { option: 'backend' });
    }
    this.#backend ??= new RedisResultBackend(this.#backendUrl ?? '', { expires: this.resultExpires, serializer: this.resultSerializer, onError: this.#onError });
    return this.#backend;
  }

  /** True when results can be stored and read. */
  get hasBackend(): boolean {
    return this.backendUrl !== undefined;
  }

  /** Advances and returns the app's Lamport clock (Celery's `app.clock`), sent with events and commands. */
  tick(): number {
    this.#clock += 1;
    return this.#clock;
  }

  /** Merges a clock value seen from another node, as Celery's LamportClock.adjust. */
  adjustClock(other: number): number {
    this.#clock = Math.max(this.#clock, other) + 1;
    return this.#clock;
  }

  producer(): Producer {
    this.#producer ??= this.connection.Producer();
    return this.#producer;
  }

  async close(): Promise<void> {
    await this.#backend?.close();
    this.#backend = undefined;
    await this.#connection?.close();
    this.#connection = undefined;
    this.#producer = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
