/**
 * The storage hooks and the declaration half of `VirtualChannel` (Kombu `virtual/base.py`
 * Channel): exchange and queue declarations, bindings, the restore lookup, and the admission
 * checks and dead-lettering every taken message goes through. Split from
 * virtual-channel.ts only to keep files short; brokers subclass `VirtualChannel`.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelState, Delivery, ExchangeDeclareOptions, QueueDeclareOptions, QueueDeclareResult } from '@kelp/core';
import { ChannelClosedError, ChannelError, NotFoundError } from '@kelp/core';
import { createQueueCycle, type QueueCycle } from './cycle.js';
import { etaSeconds, oversizeReason, redeliveryLimitReason } from './delivery-checks.js';
import { type ParsedEnvelope, parseEnvelope, readAckInfo } from './envelope.js';
import { type BindingRow, type BrokerState, prepareBinding, routeTable } from './exchange.js';
import type { VirtualTransportOptions } from './options.js';
import { QoS } from './qos.js';
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

  // ---- dead-letter routing ---------------------------------------------------------------------

  /**
   * The opt-in dead-letter routing of `queue` (transport option `deadLetterQueues`, or the queue
   * argument `x-dead-letter: true` declared in this process), with its redelivery limit
   * (`x-delivery-limit` argument, else the `maxRedeliveries` option). Undefined when off: then a
   * reject drops the message, as Kombu does.
   */
  protected deadLetterPolicy(queue: string): { maxRedeliveries: number | undefined } | undefined {
    const args = queueArguments(this.brokerState, queue);
    const listed = this.host.options.deadLetterQueues;
    const enabled = args?.['x-dead-letter'] === true || listed?.includes(queue) === true || listed?.includes('*') === true;
    if (!enabled) return undefined;
    const limit = Number(args?.['x-delivery-limit'] ?? this.host.options.maxRedeliveries ?? Number.NaN);
    return { maxRedeliveries: Number.isInteger(limit) && limit >= 0 ? limit : undefined };
  }

  // ---- admission and dead-lettering ----------------------------------------------------------

  /**
   * The checks every message passes before it reaches a consumer or basicGet: the size limit
   * (before parsing), a valid envelope, and on queues with dead-letter routing the redelivery
   * limit. A message failing one must be dead-lettered (never dropped): the reason says why.
   * `recordedTag` is the tag the storage recorded the message under, when it read that tag
   * itself (the Redis pop script may, without a full parse): the envelope must carry the same.
   */
  protected admit(queue: string, payload: string, recordedTag?: string): { ok: true; envelope: ParsedEnvelope } | { ok: false; reason: string } {
    const tooBig = oversizeReason(payload, this.host.options.maxMessageBytes);
    if (tooBig !== undefined) return { ok: false, reason: tooBig };
    const parsed = parseEnvelope(payload);
    if (!parsed.ok) return parsed;
    if (recordedTag !== undefined && parsed.envelope.deliveryTag !== recordedTag) {
      return { ok: false, reason: `properties.delivery_tag is not the tag the message was recorded under (${recordedTag})` };
    }
    const policy = parsed.envelope.redelivered ? this.deadLetterPolicy(queue) : undefined;
    const overLimit = policy && redeliveryLimitReason(parsed.envelope.headers, policy.maxRedeliveries);
    return overLimit ? { ok: false, reason: overLimit } : parsed;
  }

  /**
   * Moves a payload taken from storage aside. When it was recorded unacked, the record itself is
   * moved in one atomic step where the broker can (no window where it is in neither place);
   * otherwise the payload is stored and any record removed.
   */
  protected async deadLetterPayload(queue: string, payload: string, reason: string, recorded: boolean, knownTag?: string): Promise<void> {
    const tag = recorded ? (knownTag ?? readAckInfo(payload)?.deliveryTag) : undefined;
    const moved = tag !== undefined && this.deadLetterUnacked ? await this.deadLetterUnacked(tag, queue, reason) : undefined;
    if (!moved) {
      await this.deadLetter(queue, payload, reason);
      if (tag !== undefined) await this.ackUnacked([tag]);
    }
    this.host.reportDeadLettered({ queue, reason });
  }

  /**
   * A Celery worker holds an ETA message unacked until it is due; score its record at the ETA so
   * no sweeper (kelp's or Kombu's) restores it before ETA + visibility timeout. Not awaited: the
   * record was just written, and a sweeper cannot reach it before a visibility timeout passes.
   */
  protected holdUntilEta(env: ParsedEnvelope): void {
    const eta = etaSeconds(env.headers);
    if (eta === undefined || eta * 1000 <= Date.now()) return;
    const hold = this.holdUnackedUntil
      ? this.holdUnackedUntil(env.deliveryTag, eta)
      : this.extendUnacked?.(env.deliveryTag, eta - Date.now() / 1000 + this.host.options.visibilityTimeout);
    hold?.catch((error: unknown) => this.host.reportError(error));
  }

  /** Moves a delivered message's record aside (basicDeadLetter, and reject on dead-letter queues). */
  protected async settleDeadLetter(deliveryTag: string, queue: string | undefined, reason: string): Promise<void> {
    if (!this.deadLetterUnacked) {
      throw new ChannelError(`The ${this.constructor.name} storage cannot dead-letter delivered messages`);
    }
    const moved = await this.deadLetterUnacked(deliveryTag, queue, reason);
    if (moved) this.host.reportDeadLettered({ queue: moved.queue, reason });
  }

  // ---- restore lookup ------------------------------------------------------------------------

  /** Kombu `_lookup`: routed queues, else `[deadletterQueue]`, else empty. */
  protected readonly resolveQueues: RouteResolver = async (exchange, routingKey) => {
    const dlq = this.host.options.deadletterQueue;
    if (exchange === '') return routingKey !== '' ? [routingKey] : dlq ? [dlq] : [];
    const queues = routeTable(this.brokerState.typeOf(exchange), await this.getTable(exchange), routingKey, this.topicCache);
    return queues.length > 0 ? queues : dlq ? [dlq] : [];
  };
}

/**
 * Queue arguments as declared in this process, per broker state (like exchange types, Kombu keeps
 * declarations process-local). A WeakMap so the state object stays the owner.
 */
const declaredArguments = new WeakMap<BrokerState, Map<string, Record<string, unknown>>>();

/** A declaration without arguments (e.g. a producer's re-declare) keeps what an earlier one set. */
function rememberQueueArguments(state: BrokerState, queue: string, args: Record<string, unknown> | undefined): void {
  if (args === undefined || Object.keys(args).length === 0) return;
  let map = declaredArguments.get(state);
  if (!map) {
    map = new Map();
    declaredArguments.set(state, map);
  }
  map.set(queue, { ...args });
}

function queueArguments(state: BrokerState, queue: string): Record<string, unknown> | undefined {
  return declaredArguments.get(state)?.get(queue);
}
