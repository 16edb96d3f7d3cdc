/**
 * `ChannelConsumers`: the consumers of one channel and the queues they consume, in the order the
 * channel's queue cycle polls them. A collaborator of `VirtualChannel`, testable alone.
 */
import type { Delivery } from '@kelp/core';
import type { QueueCycle } from './cycle.js';

export interface ConsumerEntry {
  readonly tag: string;
  readonly queue: string;
  readonly noAck: boolean;
  readonly onDelivery: (delivery: Delivery) => void;
}

export class ChannelConsumers {
  private readonly byTag = new Map<string, ConsumerEntry>();
  /** queue -> consumer tag receiving it (the last consumer added wins, as in Kombu). */
  private readonly byQueue = new Map<string, string>();
  /** Consumed queues in the order consumers were added, de-duplicated (Kombu HEAD). */
  private activeQueues: string[] = [];

  /** `cycle` is given every change of the consumed queues. */
  constructor(readonly cycle: QueueCycle) {}

  get size(): number {
    return this.byTag.size;
  }

  has(tag: string): boolean {
    return this.byTag.has(tag);
  }

  tags(): string[] {
    return [...this.byTag.keys()];
  }

  /** Queues with a consumer, in the cycle's polling order. */
  queues(): string[] {
    return this.cycle.consume();
  }

  add(entry: ConsumerEntry): void {
    this.byTag.set(entry.tag, entry);
    this.byQueue.set(entry.queue, entry.tag);
    if (!this.activeQueues.includes(entry.queue)) this.activeQueues.push(entry.queue);
    this.cycle.update(this.activeQueues);
  }

  /** Removes the consumer and returns it; undefined for an unknown tag. */
  remove(tag: string): ConsumerEntry | undefined {
    const consumer = this.byTag.get(tag);
    if (!consumer) return undefined;
    this.byTag.delete(tag);
    const { queue } = consumer;
    if (this.byQueue.get(queue) === tag) {
      const next = [...this.byTag.values()].filter((c) => c.queue === queue).pop();
      if (next) this.byQueue.set(queue, next.tag);
      else {
        this.byQueue.delete(queue);
        this.activeQueues = this.activeQueues.filter((q) => q !== queue);
      }
    }
    this.cycle.update(this.activeQueues);
    return consumer;
  }

  /** The consumer messages of `queue` go to. */
  receiverOf(queue: string): ConsumerEntry | undefined {
    const tag = this.byQueue.get(queue);
    return tag === undefined ? undefined : this.byTag.get(tag);
  }

  /** Whether the consumer of `queue` takes messages without acknowledgement; undefined if none. */
  noAckFor(queue: string): boolean | undefined {
    return this.receiverOf(queue)?.noAck;
  }

  /** Consumers on `queue`. */
  countFor(queue: string): number {
    let n = 0;
    for (const consumer of this.byTag.values()) if (consumer.queue === queue) n++;
    return n;
  }
}
