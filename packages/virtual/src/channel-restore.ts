/**
 * `ChannelRestorer`: handing messages back to their queues (restores by tag, requeues of messages
 * nobody can take, the visibility sweep), and the routing lookup the unacked store is given for
 * it (`resolveQueues`, Kombu `_lookup`): only restores use it, so it lives here. A collaborator of
 * `VirtualChannel`, testable alone over any `ChannelStorage`.
 */
import { ChannelError } from '@kelp/core';
import { fallbackQueue, noRouteReason } from './admin/restore-plan.js';
import type { ChannelReports } from './channel-host.js';
import type { ChannelStorage } from './channel-storage.js';
import { markRedelivered, readAckInfo } from './envelope.js';
import { type BrokerState, routeTable } from './exchange.js';
import type { InflightWork } from './inflight-work.js';
import type { VirtualTransportOptions } from './options.js';
import type { PendingDelivery, RestoreOutcome, RouteResolver } from './storage-types.js';
import type { TopicPatternCache } from './topic.js';

export interface RestorerContext {
  readonly storage: ChannelStorage;
  readonly options: VirtualTransportOptions;
  readonly brokerState: BrokerState;
  readonly topicCache: TopicPatternCache;
  readonly reports: ChannelReports;
  /** The channel's background work: requeues and sweeps are tracked so close() waits for them. */
  readonly inflight: InflightWork;
  /** Whether the channel is open (a sweep starts only on an open channel). */
  isOpen(): boolean;
}

/** A delivered message to restore, and the queue it came from when known. */
export interface RestoreEntry {
  deliveryTag: string;
  queue: string | undefined;
}

/** A reject with requeue waiting for this tick's batch, and its caller's promise. */
interface PendingRequeue extends RestoreEntry {
  settle(error?: unknown): void;
}

export class ChannelRestorer {
  /** Messages for no consumer, gathered within one turn so a batch goes back in its order. */
  private undeliverable: PendingDelivery[] = [];
  private undeliverableFlush: Promise<void> | undefined;
  /** Stops the restore sweep in progress (between batches) when the channel closes. */
  private sweepAbort: AbortController | undefined;
  /** Rejects with requeue issued this tick, sent together where the store can (BatchRequeue). */
  private requeues: PendingRequeue[] = [];

  constructor(private readonly ctx: RestorerContext) {}

  /** Kombu `_lookup`: routed queues, else `[deadletterQueue]`, else empty. */
  readonly resolveQueues: RouteResolver = async (exchange, routingKey) => {
    const dlq = this.ctx.options.deadletterQueue;
    if (exchange === '') return routingKey !== '' ? [routingKey] : dlq ? [dlq] : [];
    const table = await this.ctx.storage.getTable(exchange);
    const queues = routeTable(this.ctx.brokerState.typeOf(exchange), table, routingKey, this.ctx.topicCache);
    return queues.length > 0 ? queues : dlq ? [dlq] : [];
  };

  /**
   * Puts back a message that was taken for a consumer that is gone (cancelled while a poll was in
   * flight, or the channel closing). Unlike Kombu (docs/wire-format.md#orphaned-deliveries: LPUSH
   * to the back) it goes to the head, where it was taken from, so it never overtakes or falls
   * behind messages published meanwhile. Calls within one turn (a poller's batch) are gathered and
   * handed back last first, which keeps the batch's order.
   */
  requeueUndeliverable(item: PendingDelivery): Promise<void> {
    this.undeliverable.push(item);
    this.undeliverableFlush ??= this.ctx.inflight.track(
      Promise.resolve().then(async () => {
        const batch = this.undeliverable;
        this.undeliverable = [];
        this.undeliverableFlush = undefined;
        for (const error of await this.requeueAtHead(batch)) this.ctx.reports.reportError(error);
      }),
    );
    return this.undeliverableFlush;
  }

  /** Hands `items` (in the order they were taken) back to the heads of their queues; resolves with the failures. */
  async requeueAtHead(items: readonly PendingDelivery[]): Promise<unknown[]> {
    const { storage } = this.ctx;
    const errors: unknown[] = [];
    for (const item of [...items].reverse()) {
      try {
        const info = readAckInfo(item.payload);
        // The tag the storage recorded, where it said: the envelope's own could differ.
        const tag = item.deliveryTag ?? info?.deliveryTag;
        if (item.recorded && tag !== undefined) await this.restoreTag(tag, false, item.queue);
        else if (storage.headPut) await storage.headPut.putFront(item.queue, markRedelivered(item.payload), info?.priority ?? 0);
        else await storage.put(item.queue, markRedelivered(item.payload), info?.priority ?? 0);
      } catch (error) {
        errors.push(error);
      }
    }
    if (items.length > 0) this.ctx.reports.wake();
    return errors;
  }

  /**
   * Restores to the head of their queues, last delivered first, so the original order survives
   * (Kombu restores in reverse delivery order). Failures are collected and thrown together at the
   * end, never half-way.
   */
  async restoreMany(entries: readonly RestoreEntry[]): Promise<void> {
    const errors: unknown[] = [];
    for (const entry of [...entries].reverse()) {
      try {
        await this.restoreTag(entry.deliveryTag, false, entry.queue);
      } catch (error) {
        errors.push(error);
      }
    }
    this.ctx.reports.wake();
    if (errors.length > 0) {
      throw new ChannelError(`Unable to restore ${errors.length} message(s); they stay unacked until the visibility timeout`, {
        cause: errors.length === 1 ? errors[0] : new AggregateError(errors),
      });
    }
  }

  /**
   * Reject with requeue: the message goes to the back of its queue. The requeues of one tick (the
   * callbacks of a concurrent consumer failing together) reach the broker as one step where the
   * store can batch them; each caller's promise settles with its own message's outcome.
   */
  requeue(deliveryTag: string, queue: string | undefined): Promise<void> {
    if (!this.ctx.storage.unacked.requeues) return this.restoreTag(deliveryTag, true, queue);
    return new Promise<void>((resolve, reject) => {
      const settle = (error?: unknown): void => (error === undefined ? resolve() : reject(error));
      // Tracked from now, not from the flush: a close() in this tick waits for it too.
      if (this.requeues.length === 0) void this.ctx.inflight.track(new Promise<void>((next) => process.nextTick(next)).then(() => this.flushRequeues()));
      this.requeues.push({ deliveryTag, queue, settle });
    });
  }

  private async flushRequeues(): Promise<void> {
    const batch = this.requeues;
    this.requeues = [];
    let outcomes: (RestoreOutcome | undefined)[];
    try {
      const batcher = this.ctx.storage.unacked.requeues;
      if (!batcher) throw new ChannelError('This storage lost its batched requeue');
      outcomes = await batcher.requeueMany(
        batch.map((entry) => entry.deliveryTag),
        this.resolveQueues,
      );
    } catch (error) {
      for (const entry of batch) entry.settle(error);
      return;
    }
    // Each message settles on its own: one that must be restored alone and fails is its error only.
    await Promise.all(
      batch.map(async (entry, i) => {
        try {
          const outcome = outcomes[i];
          if (outcome) await this.handleOutcome(outcome, entry.queue);
          else await this.restoreTag(entry.deliveryTag, true, entry.queue);
          entry.settle();
        } catch (error) {
          entry.settle(error);
        }
      }),
    );
  }

  /** Restores one delivered message: `leftmost` to the back of its queue (reject with requeue), else the head. */
  async restoreTag(tag: string, leftmost: boolean, queue: string | undefined): Promise<void> {
    const outcome = await this.ctx.storage.unacked.restore(tag, { leftmost }, this.resolveQueues);
    await this.handleOutcome(outcome, queue);
  }

  private async handleOutcome(outcome: RestoreOutcome, queue: string | undefined): Promise<void> {
    if (outcome.status === 'dead-lettered') {
      this.ctx.reports.reportDeadLettered({ queue: outcome.queue, reason: outcome.reason });
      return;
    }
    if (outcome.status !== 'unroutable') return;
    const target = queue ?? fallbackQueue(outcome.exchange, outcome.routingKey);
    const reason = noRouteReason(outcome.exchange, outcome.routingKey);
    await this.ctx.storage.deadLetter(target, outcome.envelope, reason);
    this.ctx.reports.reportDeadLettered({ queue: target, reason });
  }

  /**
   * Restores every unacked message older than the visibility timeout; resolves with how many.
   * stopSweep() stops it between batches; close() waits for it (a batch never leaves its mutex
   * behind).
   */
  async restoreVisible(): Promise<number> {
    const visibility = this.ctx.storage.unacked.visibility;
    if (!visibility || !this.ctx.isOpen()) return 0;
    const controller = new AbortController();
    this.sweepAbort = controller;
    const sweep = async (): Promise<number> => {
      const outcomes = await visibility.restoreExpired(this.resolveQueues, controller.signal);
      for (const outcome of outcomes) await this.handleOutcome(outcome, undefined);
      if (outcomes.length > 0) this.ctx.reports.wake();
      return outcomes.filter((o) => o.status !== 'missing').length;
    };
    try {
      return await this.ctx.inflight.track(sweep());
    } catch (error) {
      // Stopped by close(): what it restored is restored; the next sweep (anyone's) does the rest.
      if (controller.signal.aborted) return 0;
      throw error;
    } finally {
      if (this.sweepAbort === controller) this.sweepAbort = undefined;
    }
  }

  /** Stops the sweep in progress after its current batch. */
  stopSweep(): void {
    this.sweepAbort?.abort();
  }
}
