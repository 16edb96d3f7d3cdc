/**
 * `VirtualChannel`: AMQP channel semantics written once (Kombu `virtual/base.py` Channel), over the
 * `ChannelStorage` a transport implements. Consuming, delivery, QoS, acks and close live here; the
 * channel's collaborators do one job each: `ChannelDeclarations` (exchanges, queues, bindings),
 * `ChannelPublisher` (routing a publish), `ChannelAdmission` (the checks a message passes before
 * delivery, and dead-lettering), `ChannelRestorer` (putting messages back) and `ChannelConsumers`.
 */
import { randomUUID } from 'node:crypto';
import type {
  BasicConsumeOptions,
  BasicPublishOptions,
  Channel,
  ChannelState,
  Delivery,
  ExchangeDeclareOptions,
  OutboundMessage,
  PublishResult,
  QueueDeclareOptions,
  QueueDeclareResult,
} from '@kelp/core';
import { ChannelClosedError, ChannelError, parseBasicPublishOptions, parseDeliverAt } from '@kelp/core';
import { ChannelAdmission } from './channel-admission.js';
import { ChannelConsumers } from './channel-consumers.js';
import { ChannelDeclarations, type QueueDeleteOptions } from './channel-declarations.js';
import type { ChannelHost } from './channel-host.js';
import { ChannelPublisher } from './channel-publisher.js';
import { ChannelRestorer } from './channel-restore.js';
import type { ChannelStorage, DelayedDelivery } from './channel-storage.js';
import { createQueueCycle, type QueueCycle } from './cycle.js';
import { envelopeToDelivery } from './envelope.js';
import { InflightWork } from './inflight-work.js';
import { EXPIRED_REASON } from './message-expiry.js';
import { QoS } from './qos.js';
import type { ExpiryHandling, IncomingOptions, PendingDelivery } from './storage-types.js';
import { TopicPatternCache } from './topic.js';

export class VirtualChannel implements Channel {
  readonly qos = new QoS();
  readonly cycle: QueueCycle;
  private channelState: ChannelState = 'open';
  /** Stack of the close() call, for ChannelClosedError. */
  private closedAt: string | undefined;
  private closing: Promise<void> | undefined;
  private consumerSeq = 0;
  /** The periodic touch of the consumed queues in flight (x-expires). */
  private touching: Promise<void> | undefined;
  private readonly topicCache = new TopicPatternCache();
  private readonly inflight = new InflightWork();
  private readonly consumers: ChannelConsumers;
  private readonly declarations: ChannelDeclarations;
  private readonly publisher: ChannelPublisher;
  private readonly admission: ChannelAdmission;
  private readonly restorer: ChannelRestorer;
  /** How the storage settles messages whose TTL passed, by this channel's dead-letter policy. */
  readonly expiry: ExpiryHandling = {
    deadLetters: (queue) => this.deadLetters(queue),
    report: (info) => {
      if (info.deadLettered) this.host.reportDeadLettered({ queue: info.queue, reason: EXPIRED_REASON });
      this.host.reportExpired(info);
    },
  };

  constructor(
    private readonly host: ChannelHost<VirtualChannel>,
    readonly channelId: number,
    private readonly storage: ChannelStorage,
  ) {
    const { options, brokerState } = host;
    this.cycle = createQueueCycle(options.queueOrderStrategy);
    this.consumers = new ChannelConsumers(this.cycle);
    this.declarations = new ChannelDeclarations({ storage, brokerState, consumerCount: (queue) => host.consumerCount(queue) });
    this.publisher = new ChannelPublisher({
      storage,
      options,
      brokerState,
      topicCache: this.topicCache,
      delayedStored: (dueAtMs) => host.delayedStored?.(dueAtMs),
    });
    this.admission = new ChannelAdmission({ storage, options, brokerState, reports: host });
    this.restorer = new ChannelRestorer({
      storage,
      options,
      brokerState,
      topicCache: this.topicCache,
      reports: host,
      inflight: this.inflight,
      isOpen: () => this.channelState === 'open',
    });
  }

  get state(): ChannelState {
    return this.channelState;
  }

  /** Queues with a consumer on this channel, in the cycle's polling order. */
  get consumedQueues(): string[] {
    return this.consumers.queues();
  }

  /**
   * Keeps the queues this channel consumes in use (x-expires); the poller calls it every
   * QUEUE_TOUCH_TICK_MS. While one touch is in flight the next call joins it, so a slow server
   * never has touches pile up.
   */
  touchConsumedQueues(): Promise<void> {
    const expiry = this.storage.queueExpiry;
    if (!expiry || this.channelState !== 'open' || this.consumers.size === 0) return Promise.resolve();
    this.touching ??= expiry.touch(this.consumers.queues(), { periodic: true }).finally(() => {
      this.touching = undefined;
    });
    return this.touching;
  }

  /** The storage's delayed sets, for the transport's delayed mover (delayed-mover.ts). */
  get delayedDelivery(): DelayedDelivery | undefined {
    return this.storage.delayed;
  }

  get hasConsumers(): boolean {
    return this.consumers.size > 0;
  }

  /** Consumers on `queue` in this channel. */
  consumerCountFor(queue: string): number {
    return this.consumers.countFor(queue);
  }

  /** Whether the consumer of `queue` takes messages without acknowledgement; undefined if none. */
  noAckFor(queue: string): boolean | undefined {
    return this.consumers.noAckFor(queue);
  }

  /** Throws ChannelClosedError (with the stack of the close) unless the channel is open. */
  private assertOpen(): void {
    if (this.channelState !== 'open') {
      throw new ChannelClosedError(`Channel ${this.channelId} is ${this.channelState}; open a new channel`, {
        ...(this.closedAt === undefined ? {} : { closedAt: this.closedAt }),
      });
    }
  }

  // ---- declarations ----------------------------------------------------------------------------

  async exchangeDeclare(exchange: string, options: ExchangeDeclareOptions): Promise<void> {
    this.assertOpen();
    await this.declarations.exchangeDeclare(exchange, options);
  }

  async exchangeDelete(exchange: string, options: { ifUnused?: boolean } = {}): Promise<void> {
    this.assertOpen();
    await this.declarations.exchangeDelete(exchange, options);
  }

  async queueDeclare(queue: string, options: QueueDeclareOptions = {}): Promise<QueueDeclareResult> {
    this.assertOpen();
    return this.declarations.queueDeclare(queue, options);
  }

  async queueBind(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.assertOpen();
    await this.declarations.queueBind(queue, exchange, routingKey);
  }

  async queueUnbind(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.assertOpen();
    await this.declarations.queueUnbind(queue, exchange, routingKey);
  }

  async queuePurge(queue: string): Promise<number> {
    this.assertOpen();
    return this.declarations.queuePurge(queue);
  }

  async queueDelete(queue: string, options: QueueDeleteOptions = {}): Promise<number> {
    this.assertOpen();
    return this.declarations.queueDelete(queue, options);
  }

  // ---- publishing ------------------------------------------------------------------------------

  /** Not `async` (see ChannelPublisher.publish): errors still arrive as rejections, never as throws. */
  basicPublish(message: OutboundMessage, exchange: string, routingKey: string, options?: BasicPublishOptions): Promise<PublishResult> {
    try {
      this.assertOpen();
      return this.publisher.publish(message, exchange, routingKey, parseBasicPublishOptions(options), parseDeliverAt(options?.deliverAt, 'basicPublish'));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- getting and consuming -------------------------------------------------------------------

  async basicGet(queue: string, options: { noAck?: boolean } = {}): Promise<Delivery | undefined> {
    this.assertOpen();
    const noAck = options.noAck ?? false;
    // A malformed message is dead-lettered and the next one tried, so get never returns garbage.
    for (;;) {
      // A get is use of the queue (x-expires), found or not. Touched before the pop: a touch
      // that fails after it would reject a get whose message was already taken (lost with noAck).
      await this.storage.queueExpiry?.touch([queue]);
      const result = await this.storage.get(queue, { noAck, expiry: this.expiry });
      if (!result) return undefined;
      const checked = this.admission.admit(result.queue, result.payload, noAck ? undefined : result.deliveryTag);
      if (!checked.ok) {
        await this.admission.settleRefused(result.queue, result.payload, checked, !noAck, result.deliveryTag);
        continue;
      }
      const env = checked.envelope;
      if (!noAck) {
        this.qos.append(env.deliveryTag, result.queue);
        this.admission.holdUntilEta(env);
      }
      return envelopeToDelivery(env, { queue: result.queue, noAck });
    }
  }

  async basicConsume(queue: string, options: BasicConsumeOptions): Promise<string> {
    this.assertOpen();
    // Consuming is use of the queue (x-expires) from its start, before the first periodic touch.
    await this.storage.queueExpiry?.touch([queue]);
    this.assertOpen();
    const tag = options.consumerTag ?? `ctag-${this.channelId}-${++this.consumerSeq}-${randomUUID().slice(0, 8)}`;
    if (this.consumers.has(tag)) {
      throw new ChannelError(`Consumer tag '${tag}' is already in use on channel ${this.channelId}; pass another consumerTag`, {
        code: 530,
      });
    }
    this.consumers.add({ tag, queue, noAck: options.noAck ?? false, onDelivery: options.onDelivery });
    this.host.consumersChanged(this);
    this.host.wake();
    return tag;
  }

  /** Unknown tags are ignored; on a closed channel this is a no-op (its consumers are gone). */
  async basicCancel(consumerTag: string): Promise<void> {
    if (this.channelState === 'closed') return;
    await this.cancelConsumer(consumerTag);
  }

  private async cancelConsumer(consumerTag: string): Promise<void> {
    const consumer = this.consumers.remove(consumerTag);
    if (!consumer) return;
    this.host.consumersChanged(this);
    const { queue } = consumer;
    if (this.host.brokerState.autoDeleteQueues.has(queue) && this.host.consumerCount(queue) === 0) {
      await this.declarations.queueDelete(queue);
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
    const { batchGet } = this.storage;
    const modes = new Set(queues.map((q) => this.noAckFor(q)));
    if (batchGet && queues.length > 0 && modes.size === 1) {
      const noAck = this.noAckFor(queues[0] as string) ?? false;
      for (const result of await batchGet.getMany(queues, max, { noAck, expiry: this.expiry })) {
        out.push({ queue: result.queue, payload: result.payload, recorded: !noAck, deliveryTag: result.deliveryTag });
        this.cycle.rotate(result.queue);
      }
      return out;
    }
    while (out.length < max && this.channelState === 'open') {
      let hit = false;
      for (const queue of this.cycle.consume()) {
        const noAck = this.noAckFor(queue);
        if (noAck === undefined) continue;
        const result = await this.storage.get(queue, { noAck, expiry: this.expiry });
        if (!result) continue;
        out.push({ queue: result.queue, payload: result.payload, recorded: !noAck, deliveryTag: result.deliveryTag });
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
    return this.inflight.track(this.deliverIncoming(queue, payload, options));
  }

  private async deliverIncoming(queue: string, payload: string, options: IncomingOptions): Promise<void> {
    // Synchronous on the good path: delivery must happen in the poller's callback, not on a later
    // microtask, or a hub waiting for it would go back to sleep first.
    const checked = this.admission.admit(queue, payload, options.recorded ? options.deliveryTag : undefined);
    if (!checked.ok) {
      await this.admission.settleRefused(queue, payload, checked, options.recorded, options.deliveryTag);
      return;
    }
    const env = checked.envelope;
    const consumer = this.channelState === 'open' ? this.consumers.receiverOf(queue) : undefined;
    if (!consumer) {
      await this.restorer.requeueUndeliverable({ queue, payload, recorded: options.recorded, deliveryTag: options.deliveryTag });
      return;
    }
    if (!consumer.noAck) {
      if (!options.recorded) await this.storage.unacked.record(env.deliveryTag, payload, env.exchange, env.routingKey, queue);
      this.qos.append(env.deliveryTag, queue);
      this.admission.holdUntilEta(env);
    } else if (options.recorded) {
      // The consumer changed to noAck after the pop: nobody will ack this record.
      void this.storage.unacked.ack([env.deliveryTag]).catch((error: unknown) => this.host.reportError(error));
    }
    const delivery = envelopeToDelivery(env, { queue, noAck: consumer.noAck, consumerTag: consumer.tag });
    try {
      consumer.onDelivery(delivery);
    } catch (error) {
      this.host.reportError(error);
    }
    this.host.notifyDelivery(delivery);
  }

  /** Puts back a message a poller took for a consumer that is gone (see ChannelRestorer). */
  requeueUndeliverable(item: PendingDelivery): Promise<void> {
    return this.restorer.requeueUndeliverable(item);
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
      return this.storage.unacked.ack([deliveryTag]);
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
    if (requeue) await this.restorer.requeue(deliveryTag, queue);
    else if (queue !== undefined && this.admission.deadLetterPolicy(queue)) {
      await this.admission.settleDeadLetter(deliveryTag, queue, 'rejected without requeue');
    } else await this.storage.unacked.ack([deliveryTag]);
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
    await this.admission.settleDeadLetter(deliveryTag, queue, reason);
    this.host.wake();
  }

  /** True when the queue has dead-letter routing: `basicReject(tag, false)` then dead-letters. */
  deadLetters(queue: string): boolean {
    return this.admission.deadLetterPolicy(queue) !== undefined;
  }

  async basicRestore(deliveryTags: readonly string[]): Promise<void> {
    this.assertOpen();
    await this.restoreDelivered(deliveryTags);
  }

  async basicRecover(requeue = true): Promise<void> {
    this.assertOpen();
    if (!requeue) {
      throw new ChannelError('basicRecover(requeue=false) is not supported by virtual transports; use requeue=true');
    }
    await this.restoreDelivered(this.qos.unackedTags());
  }

  /** Forgets `tags` in the QoS and restores them to the heads of their queues. */
  private restoreDelivered(tags: readonly string[]): Promise<void> {
    const entries = tags.map((tag) => ({ deliveryTag: tag, queue: this.qos.get(tag)?.queue }));
    for (const tag of tags) this.qos.reject(tag);
    return this.restorer.restoreMany(entries);
  }

  async basicQos(prefetchCount: number): Promise<void> {
    this.assertOpen();
    this.qos.prefetchCount = prefetchCount;
    this.host.wake();
  }

  async extendVisibility(deliveryTag: string, seconds: number): Promise<void> {
    this.assertOpen();
    await this.storage.unacked.visibility?.extend(deliveryTag, seconds);
  }

  /** Restores every unacked message older than the visibility timeout; resolves with how many. */
  restoreVisible(): Promise<number> {
    return this.restorer.restoreVisible();
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
    this.restorer.stopSweep();
    const errors: unknown[] = [];
    for (const tag of this.consumers.tags()) {
      await this.cancelConsumer(tag).catch((error: unknown) => errors.push(error));
    }
    // After the poller let go (its poll in flight settled), wait for deliveries and requeues it
    // started: a message handed over meanwhile is then either in the QoS (restored below) or
    // back in its queue, never left unacked for the visibility timeout.
    const pending = await this.host.detachChannel(this);
    await this.inflight.settle();
    errors.push(...(await this.restorer.requeueAtHead(pending)));
    await this.restorer.restoreMany(this.qos.takeAll()).catch((error: unknown) => errors.push(error));
    await this.host.releaseChannel(this).catch((error: unknown) => errors.push(error));
    this.channelState = 'closed';
    for (const error of errors) this.host.reportError(error);
  }
}
