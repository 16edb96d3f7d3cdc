/**
 * `ChannelPublisher`: routes a publish (Kombu `basic_publish` and `_lookup`): the default exchange
 * straight to the queue named by the routing key, direct and topic exchanges by the bindings
 * (in one broker step when the storage can), fanout through the broker's pub/sub when it has one.
 * A message with no route goes to the `deadletterQueue` when set, never silently nowhere. A
 * collaborator of `VirtualChannel`, testable alone over any `ChannelStorage`.
 */
import { randomUUID } from 'node:crypto';
import { ConfigurationError, PublishNotConfirmedError, type ExchangeType, type OutboundMessage, type PublishConfirm, type PublishResult } from '@kelp/core';
import type { ChannelStorage, PublishWrites, ReplicaAcknowledgement } from './channel-storage.js';
import { encodeEnvelope } from './envelope.js';
import { type BrokerState, routeTable } from './exchange.js';
import type { VirtualTransportOptions } from './options.js';
import { clampPriority } from './priority.js';
import { QueueLimitRefusal } from './queue-limits.js';
import type { TopicPatternCache } from './topic.js';

/** A rejection handler: a length-limit refusal becomes the `rejected` status, anything else stays an error. */
function refusedAs(deliveryTag: string): (error: unknown) => PublishResult {
  return (error) => {
    if (!(error instanceof QueueLimitRefusal)) throw error;
    return { status: 'rejected', queues: error.reached, rejected: error.rejected, deliveryTag };
  };
}

export interface PublisherContext {
  readonly storage: ChannelStorage;
  /** A delayed message due at `dueAtMs` was stored: the local mover may wake for it. */
  readonly delayedStored?: (dueAtMs: number) => void;
  readonly options: VirtualTransportOptions;
  readonly brokerState: BrokerState;
  readonly topicCache: TopicPatternCache;
}

export class ChannelPublisher {
  private readonly storage: ChannelStorage;

  constructor(private readonly ctx: PublisherContext) {
    this.storage = ctx.storage;
  }

  /**
   * Encodes and routes one message; with `confirm`, writes it through the storage's
   * `replication.writes` and resolves once that many replicas hold what it stored. May throw
   * (encoding, a confirm this storage cannot meet); the channel turns that into a rejection.
   */
  publish(message: OutboundMessage, exchange: string, routingKey: string, confirm?: PublishConfirm, deliverAt?: number): Promise<PublishResult> {
    if (deliverAt !== undefined && deliverAt > Date.now()) return this.publishDelayed(message, exchange, routingKey, deliverAt, confirm);
    if (confirm === undefined) return this.route(message, exchange, routingKey, this.storage);
    // Refused before writing: waiting could never succeed, and nothing half-done is left behind.
    const replication = this.replicationFor(confirm);
    if (confirm.timeout > replication.maxTimeout) {
      throw new ConfigurationError(
        `publish: confirm.timeout ${confirm.timeout} s is longer than this connection can wait (${replication.maxTimeout} s); ` +
          'use a shorter timeout, or raise the transport\'s command timeout (socketTimeout on Redis)',
        { option: 'confirm.timeout' },
      );
    }
    return this.route(message, exchange, routingKey, replication.writes).then((result) => this.confirmed(result, confirm, replication));
  }

  /**
   * The storage's replication for one publish (its own scope when the storage gives one), or a
   * ConfigurationError thrown before anything is written.
   */
  private replicationFor(confirm: PublishConfirm): ReplicaAcknowledgement {
    const { replication } = this.storage;
    if (!replication) {
      throw new ConfigurationError(
        `publish: confirm asks for ${confirm.replicas} replica(s), but this transport keeps no replicas; ` +
          'drop confirm (or pass confirm: false) for this connection',
        { option: 'confirm.replicas' },
      );
    }
    return replication.forPublish?.() ?? replication;
  }

  /**
   * A delayed publish (docs/wire-format.md#delayed-delivery): routed now, by the bindings as they
   * are now, and stored in the delayed set of every queue reached, due at `deliverAt`. Queue
   * arguments (TTL, length limits) apply when the mover puts it in its queue, as to a publish at
   * that moment; a message TTL counts from the due time. Fanout exchanges are refused: on Redis
   * they broadcast over pub/sub, which keeps nothing to deliver later.
   */
  private async publishDelayed(
    message: OutboundMessage,
    exchange: string,
    routingKey: string,
    deliverAt: number,
    confirm: PublishConfirm | undefined,
  ): Promise<PublishResult> {
    const replication = confirm === undefined ? undefined : this.replicationFor(confirm);
    const writes = replication?.writes ?? this.storage;
    const delayed = writes.delayed;
    if (!delayed) {
      throw new ConfigurationError('publish: countdown / eta (delayed delivery) is not supported by this transport; publish without them', {
        option: 'countdown',
      });
    }
    const type = exchange === '' ? 'direct' : this.ctx.brokerState.typeOf(exchange);
    if (type === 'fanout') {
      throw new ConfigurationError(
        `publish: countdown / eta cannot be used on the fanout exchange '${exchange}' (a broadcast is delivered to whoever listens at once); ` +
          'publish to a direct or topic exchange, or to the queue by name',
        { option: 'countdown' },
      );
    }
    const deliveryTag = randomUUID();
    const json = encodeEnvelope(message, exchange, routingKey, deliveryTag, { visibleAt: deliverAt });
    const priority = clampPriority(message.properties.priority ?? 0);
    const queues = exchange === '' ? [routingKey] : routeTable(type, await this.storage.getTable(exchange), routingKey, this.ctx.topicCache);
    if (queues.length === 0) return this.unroutable(writes, json, priority, deliveryTag);
    await delayed.putDelayed(queues, json, priority, deliverAt);
    this.ctx.delayedStored?.(deliverAt);
    const result: PublishResult = { status: 'routed', queues, deliveryTag, deliverAt };
    return replication && confirm ? this.confirmed(result, confirm, replication) : result;
  }

  /**
   * Waits for the replicas of what `result` stored. A publish that stored nothing (a fanout
   * broadcast over pub/sub, an unroutable message) has nothing to replicate and resolves as is.
   */
  private async confirmed(result: PublishResult, confirm: PublishConfirm, replication: ReplicaAcknowledgement): Promise<PublishResult> {
    if (result.queues.length === 0) return result;
    let acknowledged: number;
    try {
      acknowledged = await replication.waitForReplicas(confirm.replicas, confirm.timeout);
    } catch (error) {
      // The message is stored whatever the wait ran into (a connection lost after the write):
      // a retry policy must not take this for a publish that never happened and store it again.
      const why = error instanceof Error ? error.message : String(error);
      throw new PublishNotConfirmedError(
        `publish to ${result.queues.join(', ')} was stored, but its replication could not be confirmed (${why}). ` +
          'The message stays stored (not known to be replicated); publishing it again would store a second copy',
        { acknowledged: 0, requested: confirm.replicas, result, cause: error },
      );
    }
    if (acknowledged >= confirm.replicas) return { ...result, replicas: acknowledged };
    throw new PublishNotConfirmedError(
      `publish to ${result.queues.join(', ')} was stored, but ${acknowledged} of the ${confirm.replicas} replica(s) asked for ` +
        `acknowledged it within ${confirm.timeout} s. The message stays stored (not known to be replicated); ` +
        'publishing it again would store a second copy',
      { acknowledged, requested: confirm.replicas, result },
    );
  }

  /**
   * Encodes and routes one message, writing through `writes`. Not `async`: the common cases (the
   * default exchange, a direct exchange) hand back the storage promise with one `.then` (each
   * async layer costs a promise and a tick per publish).
   */
  private route(message: OutboundMessage, exchange: string, routingKey: string, writes: PublishWrites): Promise<PublishResult> {
    const deliveryTag = randomUUID();
    const json = encodeEnvelope(message, exchange, routingKey, deliveryTag);
    const priority = clampPriority(message.properties.priority ?? 0);
    if (exchange === '') {
      return writes
        .put(routingKey, json, priority)
        .then((): PublishResult => ({ status: 'routed', queues: [routingKey], deliveryTag }), refusedAs(deliveryTag));
    }
    const type = this.ctx.brokerState.typeOf(exchange);
    const routing = writes.routing;
    if (type === 'direct' && routing) {
      // Lookup and pushes in one broker step (one round trip instead of two on Redis).
      return routing
        .putDirect(exchange, routingKey, json, priority)
        .then(
          (queues) => (queues.length === 0 ? this.unroutable(writes, json, priority, deliveryTag) : { status: 'routed', queues, deliveryTag }),
          refusedAs(deliveryTag),
        );
    }
    return this.publishRouted(writes, type, json, priority, exchange, routingKey, deliveryTag).catch(refusedAs(deliveryTag));
  }

  private async publishRouted(
    writes: PublishWrites,
    type: ExchangeType,
    json: string,
    priority: number,
    exchange: string,
    routingKey: string,
    deliveryTag: string,
  ): Promise<PublishResult> {
    const { fanout, routing } = writes;
    if (type === 'fanout' && fanout) {
      const subscribers = await fanout.putFanout(exchange, json, routingKey);
      if (subscribers > 0) return { status: 'routed', queues: [], subscribers, deliveryTag };
      return this.unroutable(writes, json, priority, deliveryTag, { subscribers });
    }
    if (type === 'topic' && routing) {
      // Matched here against a table the broker checks is current when it pushes (one round trip).
      const queues = await routing.putRouted(exchange, json, priority, (table) => routeTable(type, table, routingKey, this.ctx.topicCache));
      if (queues.length === 0) return this.unroutable(writes, json, priority, deliveryTag);
      return { status: 'routed', queues, deliveryTag };
    }
    const queues = routeTable(type, await this.storage.getTable(exchange), routingKey, this.ctx.topicCache);
    if (queues.length === 0) return this.unroutable(writes, json, priority, deliveryTag);
    // Each queue stores or refuses on its own; the refusals are reported together.
    const outcomes = await Promise.allSettled(queues.map((queue) => writes.put(queue, json, priority)));
    const rejected = outcomes.flatMap((outcome, i) => (outcome.status === 'rejected' && outcome.reason instanceof QueueLimitRefusal ? [queues[i] as string] : []));
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected' && !(outcome.reason instanceof QueueLimitRefusal));
    if (failed) throw failed.reason;
    if (rejected.length > 0) throw new QueueLimitRefusal(queues.filter((queue) => !rejected.includes(queue)), rejected);
    return { status: 'routed', queues, deliveryTag };
  }

  /** kelp never drops silently: the dead-letter queue when configured, else an `unroutable` result. */
  private async unroutable(
    writes: PublishWrites,
    json: string,
    priority: number,
    deliveryTag: string,
    extra: { subscribers?: number } = {},
  ): Promise<PublishResult> {
    const dlq = this.ctx.options.deadletterQueue;
    if (dlq === undefined) return { status: 'unroutable', queues: [], deliveryTag, ...extra };
    await writes.put(dlq, json, priority);
    return { status: 'dead-lettered', queues: [dlq], deliveryTag, ...extra };
  }
}
