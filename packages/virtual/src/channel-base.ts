/**
 * The bottom layer of `VirtualChannel` (Kombu `virtual/base.py` Channel): the storage hooks a
 * broker fills, the channel's state and the background work close() waits for, and the
 * declarations (exchanges, queues, bindings). Everything above builds on these and none of it
 * needs consumers, admission or restores, so it stands alone; the layers are split
 * (base -> channel-admission.ts -> channel-restore.ts -> virtual-channel.ts) only to keep files
 * short. Brokers subclass `VirtualChannel`.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelState, Delivery, ExchangeDeclareOptions, QueueDeclareOptions, QueueDeclareResult } from '@kelp/core';
import { ChannelClosedError, NotFoundError } from '@kelp/core';
import { createQueueCycle, type QueueCycle } from './cycle.js';
import { type BindingRow, type BrokerState, prepareBinding } from './exchange.js';
import type { VirtualTransportOptions } from './options.js';
import { QoS } from './qos.js';
import { rememberQueueArguments } from './queue-arguments.js';
import type {
  DeadLetterOutcome,
  GetOptions,
  GetResult,
  PendingDelivery,
  RestoreOptions,
  RestoreOutcome,
  RouteResolver,
} from './storage-types.js';
import { TopicPatternCache } from './topic.js';
import type { VirtualChannel } from './virtual-channel.js';

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

export abstract class VirtualChannelBase {
  readonly qos = new QoS();
  readonly cycle: QueueCycle;
  /**
   * True when the broker delivers fanout exchanges itself (`putFanout`, e.g. Redis pub/sub);
   * otherwise a fanout publish is stored in every bound queue.
   */
  protected readonly supportsFanout: boolean = false;
  protected readonly topicCache = new TopicPatternCache();
  protected channelState: ChannelState = 'open';
  /** Stack of the close() call, for ChannelClosedError. */
  protected closedAt: string | undefined;
  /**
   * Background work started for this channel (deliveries a poller handed over, requeues,
   * restore sweeps). close() waits for it, so nothing touches the broker connection after the
   * channel let go of it (a requeue landing on a closed connection would leave its message in
   * `unacked` until the visibility timeout; a sweep cut off mid-batch would leave its mutex).
   */
  private inflight = 0;
  /** Resolvers of settleInflight() calls waiting for `inflight` to reach 0. */
  private inflightDrained: Array<() => void> = [];
  /** One function for every tracked promise (a poller's delivery is tracked per message). */
  private readonly untrack = (): void => {
    this.inflight -= 1;
    if (this.inflight > 0) return;
    const waiters = this.inflightDrained;
    this.inflightDrained = [];
    for (const resolve of waiters) resolve();
  };

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
  /**
   * Optional one-step direct routing: looks the exchange's bindings up and pushes to every queue
   * whose binding key equals `routingKey`, on the broker in one atomic step; resolves with the
   * queues reached ([] when none matched, then nothing was stored).
   */
  protected putDirect?(exchange: string, routingKey: string, envelopeJson: string, priority: number): Promise<string[]>;
  /**
   * Optional one-step routing for exchanges the broker cannot match itself (topic): `route` maps
   * a binding table to queues; the broker pushes only if its table is still the one routed with,
   * atomically, and resolves with the queues reached ([] when none matched).
   */
  protected putRouted?(
    exchange: string,
    envelopeJson: string,
    priority: number,
    route: (table: readonly BindingRow[]) => string[],
  ): Promise<string[]>;
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
   * Kombu `restore_by_tag` (docs/wire-format.md#restore), atomically: remove the unacked entry and
   * push the redelivery-marked envelope (`markRedelivered`) to every queue `resolveQueues` returns.
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
  protected restoreExpiredUnacked?(resolveQueues: RouteResolver, signal?: AbortSignal): Promise<RestoreOutcome[]>;
  /** Moves an unusable payload aside with the reason; never loses it. */
  protected abstract deadLetter(queue: string, rawPayload: string, reason: string): Promise<void>;
  /**
   * Settles a delivered message by moving its unacked record (the original envelope) to the
   * dead-letter list of `queue` with `reason`, in one atomic step. `queue` may be undefined when
   * the channel does not know it; the hook then derives it from the envelope. Resolves undefined
   * when there is no unacked record (already acked, restored or never recorded).
   */
  protected deadLetterUnacked?(tag: string, queue: string | undefined, reason: string): Promise<DeadLetterOutcome | undefined>;
  /**
   * Keeps an unacked message invisible until `epochSeconds` (wall clock) plus the visibility
   * timeout, never shortening a later deadline (Redis: ZADD XX GT on unacked_index). Used for
   * Celery ETA messages held unacked until due. Without it the channel uses `extendUnacked`.
   */
  protected holdUnackedUntil?(tag: string, epochSeconds: number): Promise<void>;
  /** Called when the set of consumed queues changes (e.g. to resubscribe). */
  protected onConsumersChanged(): void {}
  /** Releases broker resources of the channel after consumers are cancelled and messages restored. */
  protected async onClose(): Promise<void> {}

  /**
   * Puts `envelopeJson` back at the head of `queue` (the next message to be taken; Redis RPUSH),
   * for a message taken and never delivered. Without it the channel uses `put` (the back).
   */
  protected putFront?(queue: string, envelopeJson: string, priority: number): Promise<void>;

  // ---- state -----------------------------------------------------------------------------------

  get state(): ChannelState {
    return this.channelState;
  }

  protected get brokerState(): BrokerState {
    return this.host.brokerState;
  }

  /** Registers background work close() must wait for; resolves/rejects as `work` does. */
  protected track<T>(work: Promise<T>): Promise<T> {
    this.inflight += 1;
    work.then(this.untrack, this.untrack);
    return work;
  }

  /** Waits until no tracked work is left (work may start more work while it runs). */
  protected async settleInflight(): Promise<void> {
    while (this.inflight > 0) await new Promise<void>((resolve) => this.inflightDrained.push(resolve));
  }

  /** Throws ChannelClosedError (with the stack of the close) unless the channel is open. */
  protected assertOpen(): void {
    if (this.channelState !== 'open') {
      throw new ChannelClosedError(`Channel ${this.channelId} is ${this.channelState}; open a new channel`, {
        ...(this.closedAt === undefined ? {} : { closedAt: this.closedAt }),
      });
    }
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
      rememberQueueArguments(this.brokerState, name, options.arguments);
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

  protected async deleteQueueInternal(queue: string, options: { ifUnused?: boolean; ifEmpty?: boolean }): Promise<number> {
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
}
