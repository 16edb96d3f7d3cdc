/**
 * Operator tools on a memory:// broker (`transport.admin`), the same views the Redis transport
 * gives: exchanges and bindings, queue lengths per priority step, unacked counts and ages,
 * dead letters, restore and requeue. Every step is synchronous on the broker, so each is atomic.
 */
import type {
  DeadLetterEntry,
  ExchangeType,
  InspectExchange,
  InspectQueue,
  InspectReport,
  RestoreOptions,
  RestoreReport,
  TransportAdmin,
} from '@kelp/core';
import { ConfigurationError, throwIfAborted } from '@kelp/core';
import { DELIVERY_COUNT_HEADER, TopicPatternCache, parseEnvelope, routeTable } from '@kelp/virtual';
import type { MemoryBroker } from './memory-broker.js';

export interface MemoryAdminContext {
  readonly broker: MemoryBroker;
  /** Seconds; the default threshold of restore. */
  readonly visibilityTimeout: number;
}

export class MemoryAdmin implements TransportAdmin {
  private readonly topics = new TopicPatternCache();

  constructor(private readonly ctx: MemoryAdminContext) {}

  private get broker(): MemoryBroker {
    return this.ctx.broker;
  }

  private typeOf(exchange: string): ExchangeType | undefined {
    return this.broker.state.exchanges.get(exchange)?.type;
  }

  /** Where a message published to `exchange` with `routingKey` goes now. */
  private route(exchange: string, routingKey: string): string[] {
    if (exchange === '') return routingKey === '' ? [] : [routingKey];
    const table = this.broker.getTable(exchange);
    const type = this.typeOf(exchange) ?? (table.some((row) => row.pattern !== '') ? 'topic' : 'direct');
    return routeTable(type, table, routingKey, this.topics);
  }

  private queuesOf(exchange: string, routingKey: string): string[] {
    const queues = this.route(exchange, routingKey);
    return queues.length > 0 ? queues : [routingKey || exchange];
  }

  async inspect(options: { signal?: AbortSignal } = {}): Promise<InspectReport> {
    throwIfAborted(options.signal);
    const { broker } = this;
    const names = new Set([...broker.state.exchanges.keys(), ...broker.boundExchanges()]);
    const queueNames = new Set(broker.queueNames());
    const exchanges: InspectExchange[] = [...names].sort().map((name) => {
      const rows = broker.getTable(name);
      for (const row of rows) queueNames.add(row.queue);
      return {
        name,
        type: this.typeOf(name) ?? 'unknown',
        bindings: rows.map((row) => ({ queue: row.queue, routingKey: row.routingKey, ...(row.pattern ? { pattern: row.pattern } : {}) })),
      };
    });
    const unacked = new Map<string, { count: number; oldest: number }>();
    const entries = broker.unackedEntries();
    for (const [, entry] of entries) {
      for (const queue of this.queuesOf(entry.exchange, entry.routingKey)) {
        const stats = unacked.get(queue) ?? { count: 0, oldest: Number.POSITIVE_INFINITY };
        stats.count++;
        stats.oldest = Math.min(stats.oldest, entry.deliveredAt);
        unacked.set(queue, stats);
        queueNames.add(queue);
      }
    }
    for (const queue of broker.deadLetterQueues()) queueNames.add(queue);
    const now = broker.clock();
    const queues: InspectQueue[] = [...queueNames].sort().map((name) => {
      const priorityLengths: Record<string, number> = {};
      let length = 0;
      for (const [step, n] of broker.stepSizes(name)) {
        length += n;
        if (n > 0) priorityLengths[String(step)] = n;
      }
      const stats = unacked.get(name);
      return {
        name,
        length,
        priorityLengths,
        unacked: stats?.count ?? 0,
        oldestUnackedAge: stats ? Math.max(0, now - stats.oldest) : null,
        deadLetters: broker.deadLettered(name).length,
      };
    });
    return { exchanges, queues, unackedTotal: entries.length, visibilityTimeout: this.ctx.visibilityTimeout };
  }

  async restore(options: RestoreOptions = {}): Promise<RestoreReport> {
    throwIfAborted(options.signal);
    const olderThan = options.olderThan ?? this.ctx.visibilityTimeout;
    if (!Number.isFinite(olderThan) || olderThan < 0) {
      throw new ConfigurationError(`restore: olderThan is a number of seconds >= 0, not ${String(olderThan)}`, { option: 'olderThan' });
    }
    const { broker } = this;
    const ceiling = broker.clock() - olderThan;
    // Newest-expired first and each to the head of its queue, so the oldest is next in line.
    const expired = broker
      .unackedEntries()
      .filter(([, entry]) => entry.deliveredAt <= ceiling)
      .filter(([, entry]) => options.queue === undefined || this.queuesOf(entry.exchange, entry.routingKey).includes(options.queue))
      .sort(([, a], [, b]) => b.deliveredAt - a.deliveredAt);
    const restored = new Map<string, number>();
    const dead = new Map<string, number>();
    let total = 0;
    const count = (map: Map<string, number>, queue: string) => map.set(queue, (map.get(queue) ?? 0) + 1);
    for (const [tag, entry] of expired) {
      const queues = this.route(entry.exchange, entry.routingKey);
      if (queues.length === 0) {
        const queue = entry.routingKey || entry.exchange;
        if (!options.dryRun) broker.deadLetterUnacked(tag, queue, `no route on restore: exchange '${entry.exchange}' routing key '${entry.routingKey}'`);
        count(dead, queue);
        continue;
      }
      if (!options.dryRun) {
        const outcome = await broker.restore(tag, false, async () => queues);
        if (outcome.status !== 'restored') continue;
      }
      total++;
      for (const queue of queues) count(restored, queue);
    }
    const list = (map: Map<string, number>) => [...map].sort(([a], [b]) => a.localeCompare(b)).map(([queue, n]) => ({ queue, count: n }));
    return { dryRun: options.dryRun === true, olderThan, restored: list(restored), total, ...(dead.size > 0 ? { deadLettered: list(dead) } : {}) };
  }

  /** The dead letters of `queue`, oldest first. */
  async deadLetters(queue: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<DeadLetterEntry[]> {
    throwIfAborted(options.signal);
    const all = this.broker.deadLettered(queue);
    const limit = options.limit ?? all.length;
    return all.slice(0, Math.max(0, limit)).map((entry) => ({
      queue,
      reason: entry.reason,
      at: entry.at,
      raw: entry.payload,
      rawEncoding: 'utf8' as const,
      ...(tagOf(entry.payload) === undefined ? {} : { deliveryTag: tagOf(entry.payload) as string }),
    }));
  }

  /** Valid envelopes go back to the back of `queue` (redelivery count reset); others stay. */
  async requeueDeadLetters(queue: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<{ requeued: number; skipped: number }> {
    throwIfAborted(options.signal);
    const { broker } = this;
    const taken = broker.takeDeadLetters(queue, options.limit);
    const kept = [];
    let requeued = 0;
    for (const entry of taken) {
      const parsed = parseEnvelope(entry.payload);
      if (!parsed.ok) {
        kept.push(entry);
        continue;
      }
      const data = JSON.parse(entry.payload) as Record<string, unknown>;
      const headers = data['headers'];
      if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) delete (headers as Record<string, unknown>)[DELIVERY_COUNT_HEADER];
      broker.put(queue, JSON.stringify(data), parsed.envelope.priority);
      requeued++;
    }
    broker.returnDeadLetters(queue, kept);
    return { requeued, skipped: kept.length };
  }
}

function tagOf(payload: string): string | undefined {
  try {
    const tag = (JSON.parse(payload) as { properties?: { delivery_tag?: unknown } }).properties?.delivery_tag;
    return typeof tag === 'string' ? tag : undefined;
  } catch {
    return undefined;
  }
}

