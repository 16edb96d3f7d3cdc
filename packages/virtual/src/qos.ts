/**
 * In-process QoS of one channel (docs/wire-format.md#prefetch): the prefetch limit and the messages
 * delivered to this channel and not yet acked or rejected. The durable unacked record lives in the
 * broker's ack store; this is only the channel's view, used for prefetch accounting and restore on
 * close.
 */
import { ConfigurationError } from '@kelp/core';
import { RecycleCounter } from './recycle-counter.js';

export interface DeliveredEntry {
  deliveryTag: string;
  queue: string;
}

export class QoS {
  private limit: number;
  /**
   * Delivery tag -> queue. Insertion order is delivery order (Map keeps it), which
   * restore-on-close relies on. Plain strings, no entry object: this is written per message.
   * Replaced by a copy now and then (see forget).
   */
  private delivered = new Map<string, string>();
  private readonly recycle = new RecycleCounter();

  constructor(prefetchCount = 0) {
    this.limit = QoS.validate(prefetchCount);
  }

  private static validate(prefetchCount: number): number {
    if (!Number.isInteger(prefetchCount) || prefetchCount < 0) {
      throw new ConfigurationError(`prefetchCount must be a non-negative integer (0 = unlimited), got ${prefetchCount}`, {
        option: 'prefetchCount',
      });
    }
    return prefetchCount;
  }

  /** 0 means unlimited. */
  get prefetchCount(): number {
    return this.limit;
  }

  set prefetchCount(value: number) {
    this.limit = QoS.validate(value);
  }

  /** Delivered and not yet acked or rejected. */
  get size(): number {
    return this.delivered.size;
  }

  /** Kombu `can_consume()`: unlimited, or fewer unacked messages than the prefetch count. */
  canConsume(): boolean {
    return this.limit === 0 || this.delivered.size < this.limit;
  }

  /** How many more messages may be delivered now; `Infinity` when unlimited. */
  capacity(): number {
    return this.limit === 0 ? Number.POSITIVE_INFINITY : Math.max(0, this.limit - this.delivered.size);
  }

  /** Records a delivery (Kombu appends before calling the user callback). */
  append(deliveryTag: string, queue: string): void {
    this.delivered.set(deliveryTag, queue);
  }

  has(deliveryTag: string): boolean {
    return this.delivered.has(deliveryTag);
  }

  get(deliveryTag: string): DeliveredEntry | undefined {
    const queue = this.delivered.get(deliveryTag);
    return queue === undefined ? undefined : { deliveryTag, queue };
  }

  /** Forgets an acked tag; returns whether it was known. */
  ack(deliveryTag: string): boolean {
    return this.forget(deliveryTag);
  }

  /** Forgets a rejected tag (requeued or dropped); returns whether it was known. */
  reject(deliveryTag: string): boolean {
    return this.forget(deliveryTag);
  }

  /** The map is copied every so many removals: see RecycleCounter for why. */
  private forget(deliveryTag: string): boolean {
    const known = this.delivered.delete(deliveryTag);
    if (known && this.recycle.removed()) this.delivered = new Map(this.delivered);
    return known;
  }

  /** Unacked tags in delivery order. */
  unackedTags(): string[] {
    return [...this.delivered.keys()];
  }

  /** Forgets every tag and returns them in delivery order (used once, at close). */
  takeAll(): DeliveredEntry[] {
    const all = Array.from(this.delivered, ([deliveryTag, queue]) => ({ deliveryTag, queue }));
    this.delivered.clear();
    return all;
  }
}
