/**
 * `VirtualChannel`: AMQP channel semantics written once (Kombu `virtual/base.py` Channel). A
 * broker subclasses it and fills the protected storage hooks; declarations, routing, publishing,
 * consumers, QoS, acks and restores live here.
 */
import { randomUUID } from 'node:crypto';
import type {
  BasicConsumeOptions,
  Channel,
  ChannelState,
  Delivery,
  ExchangeDeclareOptions,
  OutboundMessage,
  PublishResult,
  QueueDeclareOptions,
  QueueDeclareResult,
} from '@kelp/core';
import { ChannelClosedError, ChannelError, NotFoundError } from '@kelp/core';
import { createQueueCycle, type QueueCycle } from './cycle.js';
import { encodeEnvelope, envelopeToDelivery, markRedelivered, parseEnvelope, readAckInfo } from './envelope.js';
import { type BindingRow, type BrokerState, prepareBinding, routeTable } from './exchange.js';
import type { VirtualTransportOptions } from './options.js';
import { clampPriority } from './priority.js';
import { QoS } from './qos.js';
import type {
  GetOptions,
  GetResult,
  IncomingOptions,
  PendingDelivery,
  RestoreOptions,
  RestoreOutcome,
  RouteResolver,
} from './storage-types.js';
import { TopicPatternCache } from './topic.js';

/** What a channel needs from its transport (implemented by `VirtualTransport`). */
export interface ChannelHost {
  readonly options: VirtualTransportOptions;
  readonly brokerState: BrokerState;
  /** Consumers of `queue` on every open channel of the transport. */
  consumerCount(queue: string): number;
  /** Something changed that may let a poller deliver (put, ack, new consumer, qos). */
  wake(): void;
  notifyDelivery(delivery: Delivery): void;
  reportDeadLettered(info: { queue: string; reason: string }): void;
  reportError(error: unknown): void;
  /** Forgets the channel; resolves with messages a poller took for it and never delivered. */
  detachChannel(channel: VirtualChannel): Promise<PendingDelivery[]>;
}

interface ConsumerEntry {
  tag: string;
  queue: string;
  noAck: boolean;
  onDelivery: (delivery: Delivery) => void;
}

export abstract class VirtualChannel implements Channel {
  readonly qos = new QoS();
  readonly cycle: QueueCycle;
  /**
   * True when the broker delivers fanout exchanges itself (`putFanout`, e.g. Redis pub/sub);
   * otherwise a fanout publish is stored in every bound queue.
   */
  protected readonly supportsFanout: boolean = false;
  protected readonly topicCache = new TopicPatternCache();
  private channelState: ChannelState = 'open';
  private closedAt: string | undefined;
  private closing: Promise<void> | undefined;
  private readonly consumers = new Map<string, ConsumerEntry>();
  /** queue -> consumer tag receiving it (the last basicConsume wins, as in Kombu). */
  private readonly queueConsumers = new Map<string, string>();
  /** Consumed queues in the order consumers were added, de-duplicated (Kombu HEAD). */
  private activeQueues: string[] = [];
  private consumerSeq = 0;

  constructor(
    protected readonly host: ChannelHost,
    readonly channelId: number,
  ) {
    this.cycle = createQueueCycle(host.options.queueOrderStrategy);
  }

  // ---- storage hooks ---------------------------------------------------------------------------

  /** Stores `envelopeJson` at the back of `queue` (Kombu `_put`: LPUSH to the priority sub-list). */
  protected abstract put(queue: string, envelopeJson: string, priority: number): Promise<void>;
  /** Broadcasts on a fanout exchange; resolves with how many subscribers got it. Needs `supportsFanout`. */
  protected putFanout?(exchange: string, envelopeJson: string, routingKey: string): Promise<number>;
  /** Takes the next message of `queue` (lowest priority step first); records it unacked unless noAck. */
  protected abstract get(queue: string, options: GetOptions): Promise<GetResult | undefined>;
  /** Optional batch `get`: up to `max` messages over `queues`, asked in the given order. */
  protected getMany?(queues: readonly string[], max: number, options: GetOptions): Promise<GetResult[]>;
  /** Empties every list of `queue`; resolves with how many messages were removed. */
  protected abstract purge(queue: string): Promise<number>;
  protected abstract size(queue: string): Promise<number>;
  /** Removes `queue`'s messages and storage (bindings are removed separately with removeBinding). */
  protected abstract deleteQueue(queue: string): Promise<void>;
  protected abstract hasQueue(queue: string): Promise<boolean>;
  protected abstract newQueue(queue: string, options: QueueDeclareOptions): Promise<void>;
  /** The stored binding rows of `exchange` (Kombu `get_table`). */
  protected abstract getTable(exchange: string): Promise<BindingRow[]>;
  protected abstract addBinding(exchange: string, row: BindingRow): Promise<void>;
  protected abstract removeBinding(exchange: string, row: BindingRow): Promise<void>;
  /** Deletes the unacked records of `tags` (ack, or reject without requeue). */
  protected abstract ackUnacked(tags: readonly string[]): Promise<void>;
  /**
   * Kombu `restore_by_tag` (spec 5.4), atomically: remove the unacked entry and push the
   * redelivery-marked envelope (`markRedelivered`) to every queue `resolveQueues` returns.
   */
  protected abstract restoreUnacked(
    tag: string,
    options: RestoreOptions,
    resolveQueues: RouteResolver,
  ): Promise<RestoreOutcome>;
  /** Records a delivery that did not come through `get` with noAck false (e.g. pub/sub). */
  protected abstract recordUnacked(tag: string, envelopeJson: string, exchange: string, routingKey: string): Promise<void>;
  /** Pushes the visibility deadline of `tag` `seconds` into the future. */
  protected extendUnacked?(tag: string, seconds: number): Promise<void>;
  /** Restores every unacked entry older than the visibility timeout (Kombu `restore_visible`). */
  protected restoreExpiredUnacked?(resolveQueues: RouteResolver): Promise<RestoreOutcome[]>;
  /** Moves an unusable payload aside with the reason; never loses it. */
  protected abstract deadLetter(queue: string, rawPayload: string, reason: string): Promise<void>;
  /** Called when the set of consumed queues changes (e.g. to resubscribe). */
  protected onConsumersChanged(): void {}
  /** Releases broker resources of the channel after consumers are cancelled and messages restored. */
  protected async onClose(): Promise<void> {}

  // ---- state -----------------------------------------------------------------------------------

  get state(): ChannelState {
    return this.channelState;
  }

  protected get brokerState(): BrokerState {
    return this.host.brokerState;
  }

  /** Throws ChannelClosedError (with the stack of the close) unless the channel is open. */
  protected assertOpen(): void {
    if (this.channelState !== 'open') {
      throw new ChannelClosedError(`Channel ${this.channelId} is ${this.channelState}; open a new channel`, {
        ...(this.closedAt === undefined ? {} : { closedAt: this.closedAt }),
      });
    }
  }

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

  // ---- declarations ----------------------------------------------------------------------------

  async exchangeDeclare(exchange: string, options: ExchangeDeclareOptions): Promise<void> {
    this.assertOpen();
    // The default exchange always exists and cannot be redeclared (Kombu never declares it).
    if (exchange === '') return;
    this.brokerState.declareExchange(exchange, options);
  }

  async exchangeDelete(exchange: string, options: { ifUnused?: boolean } = {}): Promise<void> {
    this.assertOpen();
    const table = await this.getTable(exchange);
    if (options.ifUnused && table.length > 0) return;
    for (const row of table) await this.removeBinding(exchange, row);
    for (const queue of new Set(table.map((row) => row.queue))) {
      for (const b of this.brokerState.queueBindings(queue)) if (b.exchange === exchange) this.brokerState.removeBinding(b);
      await this.deleteQueueInternal(queue, { ifUnused: true, ifEmpty: true });
    }
    this.brokerState.deleteExchange(exchange);
  }

  async queueDeclare(queue: string, options: QueueDeclareOptions = {}): Promise<QueueDeclareResult> {
    this.assertOpen();
    const name = queue === '' ? `amq.gen-${randomUUID()}` : queue;
    if (options.passive) {
      if (!(await this.hasQueue(name))) {
        throw new NotFoundError(`NOT_FOUND - no queue '${name}' in vhost '${this.brokerState.virtualHost}'`);
      }
    } else {
      await this.newQueue(name, options);
      if (options.autoDelete) this.brokerState.autoDeleteQueues.add(name);
    }
    return { queue: name, messageCount: await this.size(name), consumerCount: this.host.consumerCount(name) };
  }

  async queueBind(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.assertOpen();
    const target = exchange === '' ? 'amq.direct' : exchange;
    if (!this.brokerState.addBinding({ queue, exchange: target, routingKey })) return;
    await this.addBinding(target, prepareBinding(this.brokerState.typeOf(target), routingKey, queue));
  }

  /** Unlike Kombu (which only forgets it locally), the stored binding row is removed too. */
  async queueUnbind(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.assertOpen();
    const target = exchange === '' ? 'amq.direct' : exchange;
    this.brokerState.removeBinding({ queue, exchange: target, routingKey });
    await this.removeBinding(target, prepareBinding(this.brokerState.typeOf(target), routingKey, queue));
  }

  async queuePurge(queue: string): Promise<number> {
    this.assertOpen();
    return this.purge(queue);
  }

  async queueDelete(queue: string, options: { ifUnused?: boolean; ifEmpty?: boolean } = {}): Promise<number> {
    this.assertOpen();
    return this.deleteQueueInternal(queue, options);
  }

  private async deleteQueueInternal(queue: string, options: { ifUnused?: boolean; ifEmpty?: boolean }): Promise<number> {
    if (options.ifUnused && this.host.consumerCount(queue) > 0) return 0;
    const count = await this.size(queue);
    if (options.ifEmpty && count > 0) return 0;
    for (const binding of this.brokerState.queueBindings(queue)) {
      const type = this.brokerState.typeOf(binding.exchange);
      await this.removeBinding(binding.exchange, prepareBinding(type, binding.routingKey, queue));
    }
    this.brokerState.deleteQueueBindings(queue);
    await this.deleteQueue(queue);
    return count;
  }

  // ---- routing and publishing ------------------------------------------------------------------

  /** Kombu `_lookup`: routed queues, else `[deadletterQueue]`, else empty. */
  protected readonly resolveQueues: RouteResolver = async (exchange, routingKey) => {
    const dlq = this.host.options.deadletterQueue;
    if (exchange === '') return routingKey !== '' ? [routingKey] : dlq ? [dlq] : [];
    const queues = routeTable(this.brokerState.typeOf(exchange), await this.getTable(exchange), routingKey, this.topicCache);
    return queues.length > 0 ? queues : dlq ? [dlq] : [];
  };

  async basicPublish(message: OutboundMessage, exchange: string, routingKey: string): Promise<PublishResult> {
    this.assertOpen();
    const deliveryTag = randomUUID();
    const json = encodeEnvelope(message, exchange, routingKey, deliveryTag);
    const priority = clampPriority(message.properties.priority ?? 0);
    if (exchange === '') {
      await this.put(routingKey, json, priority);
      return { status: 'routed', queues: [routingKey], deliveryTag };
    }
    const type = this.brokerState.typeOf(exchange);
    if (type === 'fanout' && this.supportsFanout && this.putFanout) {
      const subscribers = await this.putFanout(exchange, json, routingKey);
      if (subscribers > 0) return { status: 'routed', queues: [], subscribers, deliveryTag };
      return this.unroutable(json, priority, deliveryTag, { subscribers });
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
      const parsed = parseEnvelope(result.payload);
      if (!parsed.ok) {
        await this.deadLetterPayload(result.queue, result.payload, parsed.reason, !noAck);
        continue;
      }
      if (!noAck) this.qos.append(parsed.envelope.deliveryTag, result.queue);
      return envelopeToDelivery(parsed.envelope, { queue: result.queue, noAck });
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
   * message for a queue nobody consumes any more is requeued (spec 4.7). Delivery itself happens
   * synchronously unless a record must be written first. Called by pollers.
   */
  async handleIncoming(queue: string, payload: string, options: IncomingOptions): Promise<void> {
    const parsed = parseEnvelope(payload);
    if (!parsed.ok) {
      await this.deadLetterPayload(queue, payload, parsed.reason, options.recorded);
      return;
    }
    const env = parsed.envelope;
    const tag = this.channelState === 'open' ? this.queueConsumers.get(queue) : undefined;
    const consumer = tag === undefined ? undefined : this.consumers.get(tag);
    if (!consumer) {
      await this.requeueUndeliverable({ queue, payload, recorded: options.recorded });
      return;
    }
    if (!consumer.noAck) {
      if (!options.recorded) await this.recordUnacked(env.deliveryTag, payload, env.exchange, env.routingKey);
      this.qos.append(env.deliveryTag, queue);
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

  /** Puts back a message that was taken for a consumer that is gone: at the back of its queue. */
  async requeueUndeliverable(item: PendingDelivery): Promise<void> {
    const info = readAckInfo(item.payload);
    if (item.recorded && info) {
      await this.restoreTag(info.deliveryTag, true, item.queue);
      return;
    }
    await this.put(item.queue, markRedelivered(item.payload), info?.priority ?? 0);
    this.host.wake();
  }

  private async deadLetterPayload(queue: string, payload: string, reason: string, recorded: boolean): Promise<void> {
    await this.deadLetter(queue, payload, reason);
    const info = recorded ? readAckInfo(payload) : undefined;
    if (info) await this.ackUnacked([info.deliveryTag]);
    this.host.reportDeadLettered({ queue, reason });
  }

  // ---- acknowledgements ------------------------------------------------------------------------

  async basicAck(deliveryTag: string): Promise<void> {
    this.assertOpen();
    this.qos.ack(deliveryTag);
    await this.ackUnacked([deliveryTag]);
    this.host.wake();
  }

  async basicReject(deliveryTag: string, requeue: boolean): Promise<void> {
    this.assertOpen();
    const queue = this.qos.get(deliveryTag)?.queue;
    this.qos.reject(deliveryTag);
    if (requeue) await this.restoreTag(deliveryTag, true, queue);
    else await this.ackUnacked([deliveryTag]);
    this.host.wake();
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

  /**
   * Restores to the head of their queues, last delivered first, so the original order survives
   * (Kombu restores in reverse delivery order). Failures are collected and reported, not thrown
   * half-way.
   */
  private async restoreMany(entries: readonly { deliveryTag: string; queue: string | undefined }[]): Promise<void> {
    const errors: unknown[] = [];
    for (const entry of [...entries].reverse()) {
      this.qos.reject(entry.deliveryTag);
      try {
        await this.restoreTag(entry.deliveryTag, false, entry.queue);
      } catch (error) {
        errors.push(error);
      }
    }
    this.host.wake();
    if (errors.length > 0) {
      throw new ChannelError(`Unable to restore ${errors.length} message(s); they stay unacked until the visibility timeout`, {
        cause: errors.length === 1 ? errors[0] : new AggregateError(errors),
      });
    }
  }

  private async restoreTag(tag: string, leftmost: boolean, queue: string | undefined): Promise<void> {
    const outcome = await this.restoreUnacked(tag, { leftmost }, this.resolveQueues);
    await this.handleRestoreOutcome(outcome, queue);
  }

  private async handleRestoreOutcome(outcome: RestoreOutcome, queue: string | undefined): Promise<void> {
    if (outcome.status !== 'unroutable') return;
    const target = queue ?? (outcome.routingKey || outcome.exchange);
    const reason = `no route on restore: exchange '${outcome.exchange}' routing key '${outcome.routingKey}'`;
    await this.deadLetter(target, outcome.envelope, reason);
    this.host.reportDeadLettered({ queue: target, reason });
  }

  /** Restores every unacked message older than the visibility timeout; resolves with how many. */
  async restoreVisible(): Promise<number> {
    if (!this.restoreExpiredUnacked || this.channelState !== 'open') return 0;
    const outcomes = await this.restoreExpiredUnacked(this.resolveQueues);
    for (const outcome of outcomes) await this.handleRestoreOutcome(outcome, undefined);
    if (outcomes.length > 0) this.host.wake();
    return outcomes.filter((o) => o.status !== 'missing').length;
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
    const errors: unknown[] = [];
    for (const tag of [...this.consumers.keys()]) {
      await this.cancelConsumer(tag).catch((error: unknown) => errors.push(error));
    }
    const pending = await this.host.detachChannel(this);
    for (const item of pending) await this.requeueUndeliverable(item).catch((error: unknown) => errors.push(error));
    const entries = this.qos.takeAll();
    await this.restoreMany(entries).catch((error: unknown) => errors.push(error));
    await this.onClose().catch((error: unknown) => errors.push(error));
    this.channelState = 'closed';
    for (const error of errors) this.host.reportError(error);
  }
}
