/**
 * The memory transport's channel: Kombu's virtual hooks on a {@link MemoryBroker}. Every hook is
 * synchronous underneath, so each pop-and-record and each restore is atomic for free.
 */
import type { QueueDeclareOptions } from '@kelp/core';
import {
  type BindingRow,
  type ChannelHost,
  type DeadLetterOutcome,
  type GetOptions,
  type GetResult,
  type RestoreOptions,
  type RestoreOutcome,
  type RouteResolver,
  VirtualChannel,
} from '@kelp/virtual';
import type { MemoryBroker } from './memory-broker.js';

export class MemoryChannel extends VirtualChannel {
  constructor(
    host: ChannelHost,
    channelId: number,
    readonly broker: MemoryBroker,
  ) {
    super(host, channelId);
  }

  protected async put(queue: string, envelopeJson: string, priority: number): Promise<void> {
    this.broker.put(queue, envelopeJson, priority);
  }

  protected async get(queue: string, options: GetOptions): Promise<GetResult | undefined> {
    const payload = this.broker.get(queue, options.noAck);
    return payload === undefined ? undefined : { queue, payload };
  }

  protected async purge(queue: string): Promise<number> {
    return this.broker.purge(queue);
  }

  protected async size(queue: string): Promise<number> {
    return this.broker.size(queue);
  }

  protected async deleteQueue(queue: string): Promise<void> {
    this.broker.deleteQueue(queue);
  }

  protected async hasQueue(queue: string): Promise<boolean> {
    return this.broker.hasQueue(queue);
  }

  protected async newQueue(queue: string, _options: QueueDeclareOptions): Promise<void> {
    this.broker.declareQueue(queue);
  }

  protected async getTable(exchange: string): Promise<BindingRow[]> {
    return this.broker.getTable(exchange);
  }

  protected async addBinding(exchange: string, row: BindingRow): Promise<void> {
    this.broker.addBinding(exchange, row);
  }

  protected async removeBinding(exchange: string, row: BindingRow): Promise<void> {
    this.broker.removeBinding(exchange, row);
  }

  protected async ackUnacked(tags: readonly string[]): Promise<void> {
    this.broker.ack(tags);
  }

  protected async restoreUnacked(tag: string, options: RestoreOptions, resolveQueues: RouteResolver): Promise<RestoreOutcome> {
    return this.broker.restore(tag, options.leftmost, resolveQueues);
  }

  protected async recordUnacked(tag: string, envelopeJson: string, exchange: string, routingKey: string): Promise<void> {
    this.broker.recordUnacked(tag, envelopeJson, exchange, routingKey);
  }

  protected override async extendUnacked(tag: string, seconds: number): Promise<void> {
    this.broker.extend(tag, seconds, this.host.options.visibilityTimeout);
  }

  protected override async restoreExpiredUnacked(resolveQueues: RouteResolver): Promise<RestoreOutcome[]> {
    return this.broker.restoreVisible(this.host.options.visibilityTimeout, resolveQueues);
  }

  protected async deadLetter(queue: string, rawPayload: string, reason: string): Promise<void> {
    this.broker.deadLetter(queue, rawPayload, reason);
  }

  /** Synchronous underneath, so taking the record and storing the dead letter is one step. */
  protected override async deadLetterUnacked(tag: string, queue: string | undefined, reason: string): Promise<DeadLetterOutcome | undefined> {
    return this.broker.deadLetterUnacked(tag, queue, reason);
  }
}
