/**
 * `ChannelDeclarations`: exchanges, queues and bindings (Kombu's `exchange_declare`,
 * `queue_declare`, `queue_bind`, ...). Exchange types live in the process's `BrokerState`, binding
 * rows and queues in the storage. A collaborator of `VirtualChannel`, which checks the channel is
 * open before each call; testable alone over any `ChannelStorage`.
 */
import { randomUUID } from 'node:crypto';
import type { ExchangeDeclareOptions, QueueDeclareOptions, QueueDeclareResult } from '@kelp/core';
import { NotFoundError } from '@kelp/core';
import type { ChannelStorage } from './channel-storage.js';
import { type BrokerState, prepareBinding } from './exchange.js';
import { queueMessageTtl } from './message-expiry.js';
import { queueExpires } from './queue-expiry.js';
import { queueLengthLimits } from './queue-limits.js';
import { rememberQueueArguments } from './queue-arguments.js';

export interface DeclarationsContext {
  readonly storage: ChannelStorage;
  readonly brokerState: BrokerState;
  /** Consumers of `queue` on every open channel of the transport. */
  consumerCount(queue: string): number;
}

export interface QueueDeleteOptions {
  ifUnused?: boolean;
  ifEmpty?: boolean;
}

export class ChannelDeclarations {
  constructor(private readonly ctx: DeclarationsContext) {}

  async exchangeDeclare(exchange: string, options: ExchangeDeclareOptions): Promise<void> {
    // The default exchange always exists and cannot be redeclared (Kombu never declares it).
    if (exchange === '') return;
    this.ctx.brokerState.declareExchange(exchange, options);
  }

  async exchangeDelete(exchange: string, options: { ifUnused?: boolean } = {}): Promise<void> {
    const { storage, brokerState } = this.ctx;
    const table = await storage.getTable(exchange);
    if (options.ifUnused && table.length > 0) return;
    for (const row of table) await storage.removeBinding(exchange, row);
    for (const queue of new Set(table.map((row) => row.queue))) {
      for (const b of brokerState.queueBindings(queue)) if (b.exchange === exchange) brokerState.removeBinding(b);
      await this.queueDelete(queue, { ifUnused: true, ifEmpty: true });
    }
    brokerState.deleteExchange(exchange);
  }

  async queueDeclare(queue: string, options: QueueDeclareOptions = {}): Promise<QueueDeclareResult> {
    const { storage, brokerState } = this.ctx;
    const name = queue === '' ? `amq.gen-${randomUUID()}` : queue;
    if (options.passive) {
      if (!(await storage.hasQueue(name))) {
        throw new NotFoundError(`NOT_FOUND - no queue '${name}' in vhost '${brokerState.virtualHost}'`);
      }
    } else {
      // Refused before anything is stored: a bad TTL must not half-declare the queue.
      queueMessageTtl(options.arguments);
      queueLengthLimits(options.arguments);
      queueExpires(options.arguments);
      await storage.newQueue(name, options);
      if (options.autoDelete) brokerState.autoDeleteQueues.add(name);
      rememberQueueArguments(brokerState, name, options.arguments);
    }
    return { queue: name, messageCount: await storage.size(name), consumerCount: this.ctx.consumerCount(name) };
  }

  async queueBind(queue: string, exchange: string, routingKey: string): Promise<void> {
    const target = exchange === '' ? 'amq.direct' : exchange;
    if (!this.ctx.brokerState.addBinding({ queue, exchange: target, routingKey })) return;
    await this.ctx.storage.addBinding(target, prepareBinding(this.ctx.brokerState.typeOf(target), routingKey, queue));
  }

  /** Unlike Kombu (which only forgets it locally), the stored binding row is removed too. */
  async queueUnbind(queue: string, exchange: string, routingKey: string): Promise<void> {
    const target = exchange === '' ? 'amq.direct' : exchange;
    this.ctx.brokerState.removeBinding({ queue, exchange: target, routingKey });
    await this.ctx.storage.removeBinding(target, prepareBinding(this.ctx.brokerState.typeOf(target), routingKey, queue));
  }

  queuePurge(queue: string): Promise<number> {
    return this.ctx.storage.purge(queue);
  }

  /** Removes the queue's bindings and storage; resolves with how many messages it held (0 when kept). */
  async queueDelete(queue: string, options: QueueDeleteOptions = {}): Promise<number> {
    const { storage, brokerState } = this.ctx;
    if (options.ifUnused && this.ctx.consumerCount(queue) > 0) return 0;
    const count = await storage.size(queue);
    if (options.ifEmpty && count > 0) return 0;
    for (const binding of brokerState.queueBindings(queue)) {
      const type = brokerState.typeOf(binding.exchange);
      await storage.removeBinding(binding.exchange, prepareBinding(type, binding.routingKey, queue));
    }
    brokerState.deleteQueueBindings(queue);
    await storage.deleteQueue(queue);
    return count;
  }
}
