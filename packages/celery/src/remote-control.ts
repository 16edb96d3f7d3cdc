/**
 * Celery's remote control for a kelp worker (docs/celery.md#remote-control): the worker's
 * `<hostname>.celery.pidbox` queue on the `celery.pidbox` fanout exchange receives the commands
 * `celery inspect` / `celery control` and `app.control` broadcast, and replies go to the
 * `reply.celery.pidbox` direct exchange with the caller's routing key and `ticket`, as Kombu's
 * pidbox `Node` does. Answered: `ping`, `revoke`, `active`, `registered`, `stats`; any other
 * command gets Celery's "unknown command" error reply.
 */
import { Consumer, Exchange, Queue, type Channel, type HeaderValue, type Message, type Producer } from '@kelp/core';
import { PIDBOX_EXCHANGE, pidboxExchange } from './pidbox.js';
import { pyJsonDumps } from './py-json.js';
import type { TaskRequest } from './task-request.js';

export const REPLY_EXCHANGE = 'reply.celery.pidbox';

export interface RemoteControlOptions {
  hostname: string;
  app: { tick(): number; adjustClock(other: number): number };
  worker: {
    readonly revoked: Set<string>;
    terminate(taskId: string): boolean;
    readonly registered: string[];
    readonly processed: number;
    readonly active: ReadonlyMap<string, TaskRequest & { started: number; deliveryInfo: Record<string, HeaderValue> }>;
  };
  producer: () => Producer;
  onError: (error: unknown) => void;
}

interface Command {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  reply_to?: { exchange: string; routing_key: string } | null;
  ticket?: string | null;
}

export class RemoteControl {
  readonly #options: RemoteControlOptions;

  constructor(options: RemoteControlOptions) {
    this.#options = options;
  }

  /** The pidbox consumer, built again on every (re)connect by the worker. */
  consumer(channel: Channel): Consumer {
    const queue = new Queue(`${this.#options.hostname}.${PIDBOX_EXCHANGE}`, {
      exchange: pidboxExchange(),
      routingKey: '',
      durable: false,
      autoDelete: true,
    });
    return new Consumer(channel, queue, {
      noAck: true,
      onMessage: (message) => this.#handle(message),
      onError: (error) => this.#options.onError(error),
      onDecodeError: (_message, error) => this.#options.onError(error),
    });
  }

  async #handle(message: Message): Promise<void> {
    const expires = message.headers['expires'];
    if (typeof expires === 'number' && expires * 1000 < Date.now()) return; // Kombu drops expired commands
    const clock = message.headers['clock'];
    if (typeof clock === 'number') this.#options.app.adjustClock(clock);
    const command = message.decode() as Command;
    if (typeof command !== 'object' || command === null || typeof command.method !== 'string') return;
    if (Array.isArray(command.destination) && !command.destination.includes(this.#options.hostname)) return;
    const reply = this.#dispatch(command.method, command.arguments ?? {});
    if (command.reply_to && typeof command.reply_to.routing_key === 'string') {
      const exchange = new Exchange(REPLY_EXCHANGE, { type: 'direct', durable: false, deliveryMode: 1 });
      await this.#options.producer().publish(pyJsonDumps({ [this.#options.hostname]: reply }), {
        exchange,
        routingKey: command.reply_to.routing_key,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: { ticket: command.ticket ?? null, clock: this.#options.app.tick() },
        declare: [exchange],
      });
    }
  }

  #dispatch(method: string, args: Record<string, unknown>): unknown {
    const worker = this.#options.worker;
    switch (method) {
      case 'ping':
        return { ok: 'pong' };
      case 'revoke': {
        const ids = Array.isArray(args['task_id']) ? args['task_id'].map(String) : [String(args['task_id'])];
        for (const id of ids) worker.revoked.add(id);
        const terminated = args['terminate'] === true ? ids.filter((id) => worker.terminate(id)) : [];
        if (terminated.length > 0) return { ok: `terminate: tasks ${terminated.join(', ')} flagged as revoked` };
        return { ok: `tasks ${ids.join(', ')} flagged as revoked` };
      }
      case 'active':
        return [...worker.active.values()].map((request) => requestInfo(request, this.#options.hostname));
      case 'registered':
        return worker.registered;
      case 'stats':
        return { pid: process.pid, clock: String(this.#options.app.tick()), total: { processed: worker.processed }, sw_ident: 'kelp' };
      default:
        return { error: `unknown command '${method}'` };
    }
  }
}

/** Celery 5.2's `Request.info()`: what `inspect active` lists for a running task. */
function requestInfo(request: TaskRequest & { started: number; deliveryInfo: Record<string, HeaderValue> }, hostname: string): Record<string, unknown> {
  return {
    id: request.id,
    name: request.name,
    args: request.args,
    kwargs: request.kwargs,
    type: request.name,
    hostname,
    time_start: request.started / 1000,
    acknowledged: true,
    delivery_info: request.deliveryInfo,
    worker_pid: process.pid,
  };
}
