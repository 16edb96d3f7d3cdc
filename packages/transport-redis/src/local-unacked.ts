/**
 * `LocalUnackedStore`: the unacked store of a Redis channel with `ackEmulation` off (Kombu's plain
 * QoS, docs/wire-format.md#without-ack-emulation): delivered messages are kept only in this process, so a reject-with-requeue or a close can
 * still put them back; a crash loses them, as in Kombu. No visibility timeout: nothing in Redis
 * to expire.
 */
import type { DeadLetterOutcome, RestoreOptions, RestoreOutcome, RouteResolver, UnackedDeadLetters, UnackedStore } from '@kelp/virtual';
import { clampPriority, fallbackQueue } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';
import { markRedeliveredObject, parseUnackedEntry } from './redis-unacked.js';

interface LocalEntry {
  payload: string;
  exchange: string;
  routingKey: string;
}

export class LocalUnackedStore implements UnackedStore, UnackedDeadLetters {
  readonly deadLetters: UnackedDeadLetters = this;
  private readonly entries = new Map<string, LocalEntry>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** Stores a dead letter of `queue` (the storage's deadLetter). */
    private readonly deadLetter: (queue: string, payload: string, reason: string) => Promise<void>,
  ) {}

  /** Keeps a message taken with noAck false (the pop recorded nothing in Redis). */
  remember(tag: string, payload: string): void {
    try {
      const info = (JSON.parse(payload) as { properties?: { delivery_info?: { exchange?: unknown; routing_key?: unknown } } }).properties?.delivery_info;
      this.entries.set(tag, {
        payload,
        exchange: typeof info?.exchange === 'string' ? info.exchange : '',
        routingKey: typeof info?.routing_key === 'string' ? info.routing_key : '',
      });
    } catch {
      // Unparseable payloads never reach a consumer (the pop script dead-letters them).
    }
  }

  async record(tag: string, envelopeJson: string, exchange: string, routingKey: string): Promise<void> {
    this.entries.set(tag, { payload: envelopeJson, exchange, routingKey });
  }

  async ack(tags: readonly string[]): Promise<void> {
    for (const tag of tags) this.entries.delete(tag);
  }

  /** Pushes the redelivery-marked envelope to every routed queue: the back when `leftmost`, else the head. */
  async restore(tag: string, options: RestoreOptions, resolveQueues: RouteResolver): Promise<RestoreOutcome> {
    const entry = this.entries.get(tag);
    if (!entry) return { status: 'missing', deliveryTag: tag };
    this.entries.delete(tag);
    const parsed = parseUnackedEntry(`[${entry.payload}, "", ""]`);
    const envelope = parsed ? markRedeliveredObject(parsed.envelope) : entry.payload;
    const queues = await resolveQueues(entry.exchange, entry.routingKey, envelope);
    if (queues.length === 0) return { status: 'unroutable', deliveryTag: tag, envelope, exchange: entry.exchange, routingKey: entry.routingKey };
    const priority = clampPriority((parsed?.envelope.properties as Record<string, unknown> | undefined)?.priority);
    const multi = this.redis.multi();
    for (const queue of queues) {
      const key = this.keys.queueKeyForPriority(queue, priority);
      if (options.leftmost) multi.lpush(key, envelope);
      else multi.rpush(key, envelope);
    }
    await multi.exec();
    return { status: 'restored', deliveryTag: tag, queues };
  }

  async moveToDeadLetters(tag: string, queue: string | undefined, reason: string): Promise<DeadLetterOutcome | undefined> {
    const entry = this.entries.get(tag);
    if (!entry) return undefined;
    this.entries.delete(tag);
    const target = queue ?? fallbackQueue(entry.exchange, entry.routingKey);
    await this.deadLetter(target, entry.payload, reason);
    return { queue: target };
  }
}
