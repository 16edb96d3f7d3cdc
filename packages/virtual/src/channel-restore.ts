/**
 * The restore half of `VirtualChannel`: handing messages back to their queues (restores by tag,
 * requeues of messages nobody can take, the visibility sweep), and the routing lookup the restore
 * hooks are given (`resolveQueues`): only restores use it, so it lives with them. Split from
 * virtual-channel.ts only to keep files short; brokers subclass `VirtualChannel`.
 */
import { ChannelError } from '@kelp/core';
import { VirtualChannelAdmission } from './channel-admission.js';
import { markRedelivered, readAckInfo } from './envelope.js';
import { routeTable } from './exchange.js';
import type { PendingDelivery, RestoreOutcome, RouteResolver } from './storage-types.js';

export abstract class VirtualChannelRestore extends VirtualChannelAdmission {
  /** Messages for no consumer, gathered within one turn so a batch goes back in its order. */
  private undeliverable: PendingDelivery[] = [];
  private undeliverableFlush: Promise<void> | undefined;
  /** Stops the restore sweep in progress (between batches) when the channel closes. */
  private sweepAbort: AbortController | undefined;

  /** Kombu `_lookup`: routed queues, else `[deadletterQueue]`, else empty. */
  protected readonly resolveQueues: RouteResolver = async (exchange, routingKey) => {
    const dlq = this.host.options.deadletterQueue;
    if (exchange === '') return routingKey !== '' ? [routingKey] : dlq ? [dlq] : [];
    const queues = routeTable(this.brokerState.typeOf(exchange), await this.getTable(exchange), routingKey, this.topicCache);
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
    this.undeliverableFlush ??= this.track(
      Promise.resolve().then(async () => {
        const batch = this.undeliverable;
        this.undeliverable = [];
        this.undeliverableFlush = undefined;
        for (const error of await this.requeueAtHead(batch)) this.host.reportError(error);
      }),
    );
    return this.undeliverableFlush;
  }

  /** Hands `items` (in the order they were taken) back to the heads of their queues; resolves with the failures. */
  protected async requeueAtHead(items: readonly PendingDelivery[]): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const item of [...items].reverse()) {
      try {
        const info = readAckInfo(item.payload);
        if (item.recorded && info) await this.restoreTag(info.deliveryTag, false, item.queue);
        else await (this.putFront ?? this.put).call(this, item.queue, markRedelivered(item.payload), info?.priority ?? 0);
      } catch (error) {
        errors.push(error);
      }
    }
    if (items.length > 0) this.host.wake();
    return errors;
  }

  /**
   * Restores to the head of their queues, last delivered first, so the original order survives
   * (Kombu restores in reverse delivery order). Failures are collected and reported, not thrown
   * half-way.
   */
  protected async restoreMany(entries: readonly { deliveryTag: string; queue: string | undefined }[]): Promise<void> {
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

  protected async restoreTag(tag: string, leftmost: boolean, queue: string | undefined): Promise<void> {
    const outcome = await this.restoreUnacked(tag, { leftmost }, this.resolveQueues);
    await this.handleRestoreOutcome(outcome, queue);
  }

  private async handleRestoreOutcome(outcome: RestoreOutcome, queue: string | undefined): Promise<void> {
    if (outcome.status === 'dead-lettered') {
      this.host.reportDeadLettered({ queue: outcome.queue, reason: outcome.reason });
      return;
    }
    if (outcome.status !== 'unroutable') return;
    const target = queue ?? (outcome.routingKey || outcome.exchange);
    const reason = `no route on restore: exchange '${outcome.exchange}' routing key '${outcome.routingKey}'`;
    await this.deadLetter(target, outcome.envelope, reason);
    this.host.reportDeadLettered({ queue: target, reason });
  }

  /**
   * Restores every unacked message older than the visibility timeout; resolves with how many.
   * close() stops it between batches and waits for it (a batch never leaves its mutex behind).
   */
  async restoreVisible(): Promise<number> {
    if (!this.restoreExpiredUnacked || this.channelState !== 'open') return 0;
    const controller = new AbortController();
    this.sweepAbort = controller;
    const sweep = async (): Promise<number> => {
      const outcomes = (await this.restoreExpiredUnacked?.(this.resolveQueues, controller.signal)) ?? [];
      for (const outcome of outcomes) await this.handleRestoreOutcome(outcome, undefined);
      if (outcomes.length > 0) this.host.wake();
      return outcomes.filter((o) => o.status !== 'missing').length;
    };
    try {
      return await this.track(sweep());
    } catch (error) {
      // Stopped by close(): what it restored is restored; the next sweep (anyone's) does the rest.
      if (controller.signal.aborted) return 0;
      throw error;
    } finally {
      if (this.sweepAbort === controller) this.sweepAbort = undefined;
    }
  }

  /** close(): stop the sweep in progress after its current batch. */
  protected stopSweep(): void {
    this.sweepAbort?.abort();
  }
}
