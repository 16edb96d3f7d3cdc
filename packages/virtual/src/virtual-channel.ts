/**
 * `VirtualChannel`: AMQP channel semantics written once (Kombu `virtual/base.py` Channel). A
 * broker subclasses it and fills the protected storage hooks (declared in channel-base.ts);
 * publishing, routing, consumers, QoS, acks and close live here, admission checks and
 * dead-lettering in channel-admission.ts, restores and requeues in channel-restore.ts.
 */
import { randomUUID } from 'node:crypto';
import type { BasicConsumeOptions, Channel, Delivery, ExchangeType, OutboundMessage, PublishResult } from '@kelp/core';
import { ChannelError } from '@kelp/core';
import { VirtualChannelRestore } from './channel-restore.js';
import { encodeEnvelope, envelopeToDelivery } from './envelope.js';
import { routeTable } from './exchange.js';
import { clampPriority } from './priority.js';
import type { IncomingOptions, PendingDelivery } from './storage-types.js';

export type { ChannelHost } from './channel-base.js';

interface ConsumerEntry {
  tag: string;
  queue: string;
  noAck: boolean;
  onDelivery: (delivery: Delivery) => void;
}

export abstract class VirtualChannel extends VirtualChannelRestore implements Channel {
  private closing: Promise<void> | undefined;
  private readonly consumers = new Map<string, ConsumerEntry>();
  /** queue -> consumer tag receiving it (the last basicConsume wins, as in Kombu). */
  private readonly queueConsumers = new Map<string, string>();
  /** Consumed queues in the order consumers were added, de-duplicated (Kombu HEAD). */
  private activeQueues: string[] = [];
  private consumerSeq = 0;

  /** Queues with a consumer on this channel, in the cycle's polling order. */
  get consumedQueues(): string[] {
    return this.cycle.consume();
  }

  get hasConsumers(): boolean {
    return this.consumers.size > 0;
  }

  /** Consumers on `queue` in this channel. */
  consumerCountFor(queue: string): number {
    let n = 0;
    for (const consumer of this.consumers.values()) if (consumer.queue === queue) n++;
    return n;
  }

  /** Whether the consumer of `queue` takes messages without acknowledgement; undefined if none. */
  noAckFor(queue: string): boolean | undefined {
    const tag = this.queueConsumers.get(queue);
    return tag === undefined ? undefined : this.consumers.get(tag)?.noAck;
  }

  // ---- publishing ------------------------------------------------------------------------------

  /**
   * Not `async`: the common cases (the default exchange, a direct exchange) hand back the storage
   * promise with one `.then` (each async layer cost a promise and a tick per publish). Errors
   * still arrive as rejections, never as throws.
   */
  basicPublish(message: OutboundMessage, exchange: string, routingKey: string): Promise<PublishResult> {
    try {
      this.assertOpen();
      const deliveryTag = randomUUID();
      const json = encodeEnvelope(message, exchange, routingKey, deliveryTag);
      const priority = clampPriority(message.properties.priority ?? 0);
      if (exchange === '') {
        return this.put(routingKey, json, priority).then((): PublishResult => ({ status: 'routed', queues: [routingKey], deliveryTag }));
      }
      const type = this.brokerState.typeOf(exchange);
      if (type === 'direct' && this.putDirect) {
        // Lookup and pushes in one broker step (one round trip instead of two on Redis).
        return this.putDirect(exchange, routingKey, json, priority).then((queues) =>
          queues.length === 0 ? this.unroutable(json, priority, deliveryTag) : { status: 'routed', queues, deliveryTag },
        );
      }
      return this.publishRouted(type, json, priority, exchange, routingKey, deliveryTag);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private async publishRouted(
    type: ExchangeType,
    json: string,
    priority: number,
    exchange: string,
    routingKey: string,
    deliveryTag: string,
  ): Promise<PublishResult> {
    if (type === 'fanout' && this.supportsFanout && this.putFanout) {
      const subscribers = await this.putFanout(exchange, json, routingKey);
      if (subscribers > 0) return { status: 'routed', queues: [], subscribers, deliveryTag };
      return this.unroutable(json, priority, deliveryTag, { subscribers });
    }
    if (type === 'topic' && this.putRouted) {
      // Matched here against a table the broker checks is current when it pushes (one round trip).
      const queues = await this.putRouted(exchange, json, priority, (table) => routeTable(type, table, routingKey, this.topicCache));
      if (queues.length === 0) return this.unroutable(json, priority, deliveryTag);
      return { status: 'routed', queues, deliveryTag };
    }
    const queues = routeTable(type, await this.getTable(exchange), routingKey, this.topicCache);
    if (queues.length === 0) return this.unroutable(json, priority, deliveryTag);
    await Promise.all(queues.map((queue) => this.put(queue, json, priority)));
    return { status: 'routed', queues, deliveryTag };
  }

  /** kelp never drops silently: the dead-letter queue when configured, else an `unroutable` result. */
  private async unroutable(
    json: string,
    priority: number,
    deliveryTag: string,
    extra: { subscribers?: number } = {},
  ): Promise<PublishResult> {
    const dlq = this.host.options.deadletterQueue;
    if (dlq === undefined) return { status: 'unroutable', queues: [], deliveryTag, ...extra };
    await this.put(dlq, json, priority);
    return { status: 'dead-lettered', queues: [dlq], deliveryTag, ...extra };
  }

  // ---- getting and consuming -------------------------------------------------------------------

  async basicGet(queue: string, options: { noAck?: boolean } = {}): Promise<Delivery | undefined> {
    this.assertOpen();
    const noAck = options.noAck ?? false;
    // A malformed message is dead-lettered and the next one tried, so get never returns garbage.
    for (;;) {
      const result = await this.get(queue, { noAck });
      if (!result) return undefined;
      const checked = this.admit(result.queue, result.payload, noAck ? undefined : result.deliveryTag);
      if (!checked.ok) {
        await this.deadLetterPayload(result.queue, result.payload, checked.reason, !noAck, result.deliveryTag);
        continue;
      }
      const env = checked.envelope;
      if (!noAck) {
        this.qos.append(env.deliveryTag, result.queue);
        this.holdUntilEta(env);
      }
      return envelopeToDelivery(env, { queue: result.queue, noAck });
    }
  }

  async basicConsume(queue: string, options: BasicConsumeOptions): Promise<string> {
    this.assertOpen();
    const tag = options.consumerTag ?? `ctag-${this.channelId}-${++this.consumerSeq}-${randomUUID().slice(0, 8)}`;
    if (this.consumers.has(tag)) {
      throw new ChannelError(`Consumer tag '${tag}' is already in use on channel ${this.channelId}; pass another consumerTag`, {
        code: 530,
      });
    }
    this.consumers.set(tag, { tag, queue, noAck: options.noAck ?? false, onDelivery: options.onDelivery });
    this.queueConsumers.set(queue, tag);
    if (!this.activeQueues.includes(queue)) this.activeQueues.push(queue);
    this.cycle.update(this.activeQueues);
    this.onConsumersChanged();
    this.host.wake();
    return tag;
  }

  /** Unknown tags are ignored; on a closed channel this is a no-op (its consumers are gone). */
  async basicCancel(consumerTag: string): Promise<void> {
    if (this.channelState === 'closed') return;
    await this.cancelConsumer(consumerTag);
  }

  private async cancelConsumer(consumerTag: string): Promise<void> {
    const consumer = this.consumers.get(consumerTag);
    if (!consumer) return;
    this.consumers.delete(consumerTag);
    const { queue } = consumer;
    if (this.queueConsumers.get(queue) === consumerTag) {
      const next = [...this.consumers.values()].filter((c) => c.queue === queue).pop();
      if (next) this.queueConsumers.set(queue, next.tag);
      else {
        this.queueConsumers.delete(queue);
        this.activeQueues = this.activeQueues.filter((q) => q !== queue);
      }
    }
    this.cycle.update(this.activeQueues);
    this.onConsumersChanged();
    if (this.brokerState.autoDeleteQueues.has(queue) && this.host.consumerCount(queue) === 0) {
      await this.deleteQueueInternal(queue, {});
    }
  }

  /**
   * Takes up to `max` messages for this channel's consumers, asking queues in cycle order and
   * rotating after each hit (fairness). Used by pollers; does not deliver.
   */
  async fetch(max: number): Promise<PendingDelivery[]> {
    const out: PendingDelivery[] = [];
    if (max <= 0 || this.channelState !== 'open') return out;
    const queues = this.cycle.consume();
    const modes = new Set(queues.map((q) => this.noAckFor(q)));
    if (this.getMany && queues.length > 0 && modes.size === 1) {
      const noAck = this.noAckFor(queues[0] as string) ?? false;
      for (const result of await this.getMany(queues, max, { noAck })) {
        out.push({ queue: result.queue, payload: result.payload, recorded: !noAck });
        this.cycle.rotate(result.queue);
      }
      return out;
    }
    while (out.length < max && this.channelState === 'open') {
      let hit = false;
      for (const queue of this.cycle.consume()) {
        const noAck = this.noAckFor(queue);
        if (noAck === undefined) continue;
        const result = await this.get(queue, { noAck });
        if (!result) continue;
        out.push({ queue: result.queue, payload: result.payload, recorded: !noAck });
        this.cycle.rotate(queue);
        hit = true;
        break;
      }
      if (!hit) break;
    }
    return out;
  }

  /**
   * Hands one message taken from storage to the consumer of `queue` (Kombu `_deliver` plus the
   * channel callback). Never throws for bad input: a malformed envelope is dead-lettered and a
   * message for a queue nobody consumes any more is handed back (see requeueUndeliverable).
   * Delivery itself happens synchronously unless a record must be written first. Called by
   * pollers; close() waits for what this started.
   */
  handleIncoming(queue: string, payload: string, options: IncomingOptions): Promise<void> {
    return this.track(this.deliverIncoming(queue, payload, options));
  }

  private async deliverIncoming(queue: string, payload: string, options: IncomingOptions): Promise<void> {
    // Synchronous on the good path: delivery must happen in the poller's callback, not on a later
    // microtask, or a hub waiting for it would go back to sleep first.
    const checked = this.admit(queue, payload, options.recorded ? options.deliveryTag : undefined);
    if (!checked.ok) {
      await this.deadLetterPayload(queue, payload, checked.reason, options.recorded, options.deliveryTag);
      return;
    }
    const env = checked.envelope;
    const tag = this.channelState === 'open' ? this.queueConsumers.get(queue) : undefined;
    const consumer = tag === undefined ? undefined : this.consumers.get(tag);
    if (!consumer) {
      await this.requeueUndeliverable({ queue, payload, recorded: options.recorded });
      return;
    }
    if (!consumer.noAck) {
      if (!options.recorded) await this.recordUnacked(env.deliveryTag, payload, env.exchange, env.routingKey);
      this.qos.append(env.deliveryTag, queue);
      this.holdUntilEta(env);
    } else if (options.recorded) {
      // The consumer changed to noAck after the pop: nobody will ack this record.
      void this.ackUnacked([env.deliveryTag]).catch((error: unknown) => this.host.reportError(error));
    }
    const delivery = envelopeToDelivery(env, { queue, noAck: consumer.noAck, consumerTag: consumer.tag });
    try {
      consumer.onDelivery(delivery);
    } catch (error) {
      this.host.reportError(error);
    }
    this.host.notifyDelivery(delivery);
  }

  // ---- acknowledgements ------------------------------------------------------------------------

  basicAck(deliveryTag: string): Promise<void> {
    // Not `async`: the store's promise is handed back as is (one promise less per message on the
    // hot path); failures still arrive as rejections.
    try {
      this.assertOpen();
      this.qos.ack(deliveryTag);
      // The prefetch slot is free now: wake the poller before awaiting the store, so the next pop
      // travels while this ack is in flight (pop and ack overlap instead of pop -> ack -> pop).
      this.host.wake();
      return this.ackUnacked([deliveryTag]);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `requeue: false` drops the message as Kombu does, unless its queue has dead-letter routing
   * (`deadLetterQueues` / `x-dead-letter`): then it goes to the dead-letter list.
   */
  async basicReject(deliveryTag: string, requeue: boolean): Promise<void> {
    this.assertOpen();
    const queue = this.qos.get(deliveryTag)?.queue;
    this.qos.reject(deliveryTag);
    if (requeue) await this.restoreTag(deliveryTag, true, queue);
    else if (queue !== undefined && this.deadLetterPolicy(queue)) await this.settleDeadLetter(deliveryTag, queue, 'rejected without requeue');
    else await this.ackUnacked([deliveryTag]);
    this.host.wake();
  }

  /**
   * Settles a delivered message by moving it, with `reason` and its original envelope, to its
   * queue's dead-letter list (e.g. content the consumer cannot decode or does not accept).
   * A tag with no unacked record any more (already settled elsewhere) changes nothing.
   */
  async basicDeadLetter(deliveryTag: string, reason: string): Promise<void> {
    this.assertOpen();
    const queue = this.qos.get(deliveryTag)?.queue;
    this.qos.reject(deliveryTag);
    await this.settleDeadLetter(deliveryTag, queue, reason);
    this.host.wake();
  }

  /** True when the queue has dead-letter routing: `basicReject(tag, false)` then dead-letters. */
  deadLetters(queue: string): boolean {
    return this.deadLetterPolicy(queue) !== undefined;
  }

  async basicRestore(deliveryTags: readonly string[]): Promise<void> {
    this.assertOpen();
    await this.restoreMany(deliveryTags.map((tag) => ({ deliveryTag: tag, queue: this.qos.get(tag)?.queue })));
  }

  async basicRecover(requeue = true): Promise<void> {
    this.assertOpen();
    if (!requeue) {
      throw new ChannelError('basicRecover(requeue=false) is not supported by virtual transports; use requeue=true');
    }
    await this.restoreMany(this.qos.unackedTags().map((tag) => ({ deliveryTag: tag, queue: this.qos.get(tag)?.queue })));
  }

  async basicQos(prefetchCount: number): Promise<void> {
    this.assertOpen();
    this.qos.prefetchCount = prefetchCount;
    this.host.wake();
  }

  async extendVisibility(deliveryTag: string, seconds: number): Promise<void> {
    this.assertOpen();
    await this.extendUnacked?.(deliveryTag, seconds);
  }

  // ---- closing ---------------------------------------------------------------------------------

  /** Cancels consumers and restores unacked messages (head of their queues). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.closedAt = new Error('Channel closed').stack?.split('\n').slice(1).join('\n');
    this.channelState = 'closing';
    this.stopSweep();
    const errors: unknown[] = [];
    for (const tag of [...this.consumers.keys()]) {
      await this.cancelConsumer(tag).catch((error: unknown) => errors.push(error));
    }
    // After the poller let go (its poll in flight settled), wait for deliveries and requeues it
    // started: a message handed over meanwhile is then either in the QoS (restored below) or
    // back in its queue, never left unacked for the visibility timeout.
    const pending = await this.host.detachChannel(this);
    await this.settleInflight();
    errors.push(...(await this.requeueAtHead(pending)));
    const entries = this.qos.takeAll();
    await this.restoreMany(entries).catch((error: unknown) => errors.push(error));
    await this.onClose().catch((error: unknown) => errors.push(error));
    this.channelState = 'closed';
    for (const error of errors) this.host.reportError(error);
  }
}
