/**
 * `MemoryStorage`: the {@link ChannelStorage} of `memory://`, on a {@link MemoryBroker}. Every
 * operation is synchronous underneath, so each pop-and-record and each restore is atomic for free.
 * Capabilities: visibility timeout, dead-lettering of unacked records, delayed delivery. No broker-side fanout
 * (a fanout publish is stored in every bound queue), no batched gets, no head puts.
 */
import type { QueueDeclareOptions } from '@kelp/core';
import type {
  BindingRow,
  ChannelStorage,
  DeadLetterOutcome,
  DelayedDelivery,
  QueueExpiry,
  GetOptions,
  GetResult,
  RestoreOptions,
  RestoreOutcome,
  RouteResolver,
  UnackedStore,
} from '@kelp/virtual';
import type { MemoryBroker } from './memory-broker.js';

export class MemoryStorage implements ChannelStorage {
  readonly unacked: UnackedStore;
  readonly delayed: DelayedDelivery;
  readonly queueExpiry: QueueExpiry;

  constructor(
    private readonly broker: MemoryBroker,
    visibilityTimeout: number,
  ) {
    this.queueExpiry = {
      touch: async (queues) => {
        for (const queue of queues) broker.touch(queue);
      },
    };
    this.delayed = {
      putDelayed: async (queues, envelopeJson, priority, dueAtMs) => broker.putDelayed(queues, envelopeJson, priority, dueAtMs),
      moveDue: async (nowMs, max) => broker.moveDue(nowMs, max),
    };
    this.unacked = {
      record: async (tag: string, envelopeJson: string, exchange: string, routingKey: string) =>
        broker.recordUnacked(tag, envelopeJson, exchange, routingKey),
      ack: async (tags: readonly string[]) => broker.ack(tags),
      restore: (tag: string, options: RestoreOptions, resolveQueues: RouteResolver): Promise<RestoreOutcome> =>
        broker.restore(tag, options.leftmost, resolveQueues),
      visibility: {
        extend: async (tag: string, seconds: number) => broker.extend(tag, seconds, visibilityTimeout),
        restoreExpired: (resolveQueues: RouteResolver) => broker.restoreVisible(visibilityTimeout, resolveQueues),
      },
      deadLetters: {
        // Taking the record and storing the dead letter is one synchronous step.
        moveToDeadLetters: async (tag: string, queue: string | undefined, reason: string): Promise<DeadLetterOutcome | undefined> =>
          broker.deadLetterUnacked(tag, queue, reason),
      },
    };
  }

  async put(queue: string, envelopeJson: string, priority: number): Promise<void> {
    this.broker.put(queue, envelopeJson, priority);
  }

  async get(queue: string, options: GetOptions): Promise<GetResult | undefined> {
    const taken = this.broker.take(queue, options.noAck, options.expiry);
    if (taken === undefined) return undefined;
    // The tag it was recorded under: the channel checks the envelope's against it.
    return { queue, payload: taken.payload, deliveryTag: taken.deliveryTag };
  }

  async purge(queue: string): Promise<number> {
    return this.broker.purge(queue);
  }

  async size(queue: string): Promise<number> {
    return this.broker.size(queue);
  }

  async deleteQueue(queue: string): Promise<void> {
    this.broker.deleteQueue(queue);
  }

  async hasQueue(queue: string): Promise<boolean> {
    return this.broker.hasQueue(queue);
  }

  async newQueue(queue: string, options: QueueDeclareOptions): Promise<void> {
    this.broker.declareQueue(queue, options.arguments);
  }

  async getTable(exchange: string): Promise<BindingRow[]> {
    return this.broker.getTable(exchange);
  }

  async addBinding(exchange: string, row: BindingRow): Promise<void> {
    this.broker.addBinding(exchange, row);
  }

  async removeBinding(exchange: string, row: BindingRow): Promise<void> {
    this.broker.removeBinding(exchange, row);
  }

  async deadLetter(queue: string, rawPayload: string, reason: string): Promise<void> {
    this.broker.deadLetter(queue, rawPayload, reason);
  }

  async countDropped(queue: string, reason: string): Promise<void> {
    this.broker.countDropped(queue, reason);
  }
}
