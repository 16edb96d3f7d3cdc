/**
 * Exchange declarations and routing (spec section 3). Declarations are process-local, as in Kombu:
 * only the binding rows live in the broker, and the routing algorithm is chosen from the local
 * declaration (an exchange this process never declared routes as `direct`).
 */
import type { ExchangeDeclareOptions, ExchangeType } from '@kelp/core';
import { NotEquivalentError, NotFoundError } from '@kelp/core';
import { compileTopicPattern, topicMatches, type TopicPatternCache } from './topic.js';

/** One stored binding: Kombu's `<rk> SEP <pattern> SEP <queue>` set member, split. */
export interface BindingRow {
  routingKey: string;
  /** Compiled topic pattern; empty for direct and fanout bindings. */
  pattern: string;
  queue: string;
}

export interface ExchangeDeclaration {
  type: ExchangeType;
  durable: boolean;
  autoDelete: boolean;
  arguments: Readonly<Record<string, unknown>>;
}

/** A binding this process made (Kombu's `state.bindings`): what `queueDelete` may remove. */
export interface LocalBinding {
  queue: string;
  exchange: string;
  routingKey: string;
}

function sameArguments(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Kombu `prepare_bind`: the row a binding stores for the exchange type. */
export function prepareBinding(type: ExchangeType, routingKey: string, queue: string): BindingRow {
  return { routingKey, pattern: type === 'topic' ? compileTopicPattern(routingKey) : '', queue };
}

/** Queues the table routes `routingKey` to, de-duplicated in table order (set semantics). */
export function routeTable(
  type: ExchangeType,
  table: readonly BindingRow[],
  routingKey: string,
  cache?: TopicPatternCache,
): string[] {
  const queues = new Set<string>();
  for (const row of table) {
    if (type === 'fanout') queues.add(row.queue);
    else if (type === 'topic') {
      if (topicMatches(row.pattern, routingKey, cache)) queues.add(row.queue);
    } else if (row.routingKey === routingKey) queues.add(row.queue);
  }
  return [...queues];
}

/**
 * The process-local half of the broker: exchange declarations, the bindings made here and the
 * auto-delete queues. One per transport (Kombu keeps one per connection; memory:// shares its
 * broker's, as Kombu's memory transport shares one class-level state).
 */
export class BrokerState {
  readonly exchanges = new Map<string, ExchangeDeclaration>();
  private readonly bindings = new Map<string, Map<string, LocalBinding>>();
  /** Queues declared with autoDelete: deleted when their last consumer in this process is cancelled. */
  readonly autoDeleteQueues = new Set<string>();
  #revision = 0;

  constructor(readonly virtualHost = '/') {}

  /**
   * Bumped by every change of exchanges or bindings, so something derived from them (a
   * channel's fanout subscriptions) can be recomputed only when it may have changed.
   */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Records an exchange (or checks it, when passive). Throws NotFoundError for a passive declare
   * of an unknown exchange and NotEquivalentError when the declaration differs.
   */
  declareExchange(name: string, options: ExchangeDeclareOptions): void {
    const existing = this.exchanges.get(name);
    if (options.passive) {
      if (!existing) throw new NotFoundError(`NOT_FOUND - no exchange '${name}' in vhost '${this.virtualHost}'`);
      return;
    }
    const wanted: ExchangeDeclaration = {
      type: options.type,
      durable: options.durable ?? true,
      autoDelete: options.autoDelete ?? false,
      arguments: options.arguments ?? {},
    };
    if (!existing) {
      this.exchanges.set(name, wanted);
      this.#revision++;
      return;
    }
    if (
      existing.type !== wanted.type ||
      existing.durable !== wanted.durable ||
      existing.autoDelete !== wanted.autoDelete ||
      !sameArguments(existing.arguments, wanted.arguments)
    ) {
      throw new NotEquivalentError(
        `PRECONDITION_FAILED - Cannot redeclare exchange '${name}' in vhost '${this.virtualHost}' with different type, durable, autoDelete or arguments value (declared as ${existing.type}, durable=${existing.durable}, autoDelete=${existing.autoDelete}); delete it first or declare it with the same options`,
      );
    }
  }

  deleteExchange(name: string): void {
    if (this.exchanges.delete(name)) this.#revision++;
  }

  /** The local type of `exchange`, `direct` when this process never declared it (Kombu `typeof`). */
  typeOf(exchange: string): ExchangeType {
    return this.exchanges.get(exchange)?.type ?? 'direct';
  }

  /** Remembers a binding; false when it was already known (Kombu skips the broker write then). */
  addBinding(binding: LocalBinding): boolean {
    let perQueue = this.bindings.get(binding.queue);
    if (!perQueue) {
      perQueue = new Map();
      this.bindings.set(binding.queue, perQueue);
    }
    const key = `${binding.exchange}\0${binding.routingKey}`;
    if (perQueue.has(key)) return false;
    perQueue.set(key, { ...binding });
    this.#revision++;
    return true;
  }

  removeBinding(binding: LocalBinding): boolean {
    const perQueue = this.bindings.get(binding.queue);
    const removed = perQueue?.delete(`${binding.exchange}\0${binding.routingKey}`) ?? false;
    if (perQueue?.size === 0) this.bindings.delete(binding.queue);
    if (removed) this.#revision++;
    return removed;
  }

  queueBindings(queue: string): LocalBinding[] {
    return [...(this.bindings.get(queue)?.values() ?? [])];
  }

  /** Every binding made in this process to `exchange` (e.g. to find fanout queues). */
  exchangeBindings(exchange: string): LocalBinding[] {
    const out: LocalBinding[] = [];
    for (const perQueue of this.bindings.values()) {
      for (const binding of perQueue.values()) if (binding.exchange === exchange) out.push(binding);
    }
    return out;
  }

  deleteQueueBindings(queue: string): void {
    if (this.bindings.delete(queue)) this.#revision++;
    this.autoDeleteQueues.delete(queue);
  }
}
