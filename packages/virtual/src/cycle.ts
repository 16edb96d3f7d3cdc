/**
 * Queue order strategies (Kombu `queue_order_strategy`,
 * docs/wire-format.md#queue-order-strategies): which of a channel's active queues is asked first.
 * The channel replaces the item list whenever a consumer is added or cancelled and calls
 * `rotate(queue)` after each queue that produced a message.
 */
import { ConfigurationError } from '@kelp/core';

export interface QueueCycle {
  /** Replaces the item list (duplicates are dropped, first occurrence wins: Kombu HEAD). */
  update(queues: readonly string[]): void;
  /** The first `n` items in the order they should be polled (all when `n` is omitted). */
  consume(n?: number): string[];
  /** Called with the queue that just produced a message. */
  rotate(queue: string): void;
  readonly items: readonly string[];
}

function dedupe(queues: readonly string[]): string[] {
  return [...new Set(queues)];
}

/** `round_robin` (the default): a queue that produced a message moves to the end. */
export class RoundRobinCycle implements QueueCycle {
  protected list: string[] = [];

  get items(): readonly string[] {
    return this.list;
  }

  update(queues: readonly string[]): void {
    this.list = dedupe(queues);
  }

  consume(n: number = this.list.length): string[] {
    return this.list.slice(0, n);
  }

  rotate(queue: string): void {
    const index = this.list.indexOf(queue);
    if (index < 0) return;
    this.list.splice(index, 1);
    this.list.push(queue);
  }
}

/** `priority`: always declaration order, so earlier queues starve later ones while they have messages. */
export class PriorityCycle extends RoundRobinCycle {
  override rotate(): void {}
}

/** `sorted`: alphabetical order (by UTF-16 code units, like Python's default string order for BMP text). */
export class SortedCycle extends RoundRobinCycle {
  override consume(n: number = this.list.length): string[] {
    return [...this.list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, n);
  }

  override rotate(): void {}
}

export type QueueCycleFactory = () => QueueCycle;

/**
 * Named strategies. Users may add their own with {@link QueueOrderStrategies.register}; a
 * transport option `queueOrderStrategy` then picks it by name.
 */
export class QueueOrderStrategies {
  private readonly factories = new Map<string, QueueCycleFactory>([
    ['round_robin', () => new RoundRobinCycle()],
    ['priority', () => new PriorityCycle()],
    ['sorted', () => new SortedCycle()],
  ]);

  register(name: string, factory: QueueCycleFactory): void {
    this.factories.set(name, factory);
  }

  has(name: string): boolean {
    return this.factories.has(name);
  }

  names(): string[] {
    return [...this.factories.keys()];
  }

  create(name: string): QueueCycle {
    const factory = this.factories.get(name);
    if (!factory) {
      throw new ConfigurationError(
        `Unknown queueOrderStrategy '${name}'; use one of ${this.names().join(', ')} or register one with queueOrderStrategies.register()`,
        { option: 'transportOptions.queueOrderStrategy' },
      );
    }
    return factory();
  }
}

/** The registry the virtual transports consult. */
export const queueOrderStrategies = new QueueOrderStrategies();

/** Shorthand for `queueOrderStrategies.register(name, factory)`. */
export function registerQueueOrderStrategy(name: string, factory: QueueCycleFactory): void {
  queueOrderStrategies.register(name, factory);
}

/** Builds the cycle for a strategy name (`round_robin`, `priority`, `sorted` or a registered one). */
export function createQueueCycle(name = 'round_robin', registry: QueueOrderStrategies = queueOrderStrategies): QueueCycle {
  return registry.create(name);
}
