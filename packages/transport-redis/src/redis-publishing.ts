/**
 * `RedisPublishing`: the write side of a channel's Redis storage (Kombu's key layout): LPUSH to
 * the priority sub-list, batched per tick (PushBatcher); one-round-trip direct and topic routing
 * on the server; fanout PUBLISH; RPUSH back to the head. One per channel, so a channel's
 * publishes reach Redis in the order they were issued, and one on the confirm connection for the
 * confirmed publishes of every channel (ConfirmConnection), which keeps each channel's order too.
 */
import type { BindingRow, FanoutPublish, HeadPut, OneStepRouting } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { BoundedMemo } from './bounded-memo.js';
import { wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import { PushBatcher } from './push-batcher.js';
import { RedisDelayed } from './redis-delayed.js';

export class RedisPublishing implements OneStepRouting, FanoutPublish, HeadPut {
  private pushBatcher: PushBatcher | undefined;
  /**
   * Binding set key per exchange and sub-list suffix per priority, made once: the same string
   * object each time lets the batcher group publishes by identity instead of comparing text,
   * and spares two strings per publish. Keys and suffixes are fixed for the channel's life.
   */
  private readonly bindingKeys = new BoundedMemo(1000, (exchange) => this.keys.bindingKey(exchange));
  private readonly suffixes: string[] = [];
  /** Binding sets as last read, for putRouted (the push script checks them before using them). */
  private readonly tableCopies = new Map<string, { members: readonly string[]; rows: readonly BindingRow[] }>();

  /** Delayed publishes (countdown / eta) on this publishing's connection. */
  readonly delayed: RedisDelayed;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** The broker URL without its password, for error messages. */
    private readonly redactedUrl: string,
  ) {
    this.delayed = new RedisDelayed(redis, keys, redactedUrl);
  }

  /** LPUSH to the priority sub-list, batched with the tick's other pushes (PushBatcher). */
  put(queue: string, envelopeJson: string, priority: number): Promise<void> {
    // Not `async`: the batcher's promise as is (one promise less per publish).
    return this.pushes.push(queue, this.stepSuffix(priority), envelopeJson);
  }

  /** RPUSH: back to the head (the next RPOP), for a message taken and never delivered. */
  async putFront(queue: string, envelopeJson: string, priority: number): Promise<void> {
    await this.redis.rpush(this.keys.queueKeyForPriority(queue, priority), envelopeJson);
  }

  /** A direct-exchange publish: lookup and pushes in one script call on the server. */
  putDirect(exchange: string, routingKey: string, envelopeJson: string, priority: number): Promise<string[]> {
    return this.pushes.routeDirect(this.bindingKeys.get(exchange), routingKey, this.stepSuffix(priority), envelopeJson);
  }

  /**
   * A topic publish in one round trip while the bindings do not change: match against this
   * channel's copy of the set, and let the script push only if the set is still that copy. When
   * it changed ('stale'), read it again and push as Kombu does (lookup, then LPUSH).
   */
  async putRouted(
    exchange: string,
    envelopeJson: string,
    priority: number,
    route: (table: readonly BindingRow[]) => string[],
  ): Promise<string[]> {
    const bindingKey = this.bindingKeys.get(exchange);
    const suffix = this.stepSuffix(priority);
    const cached = this.tableCopies.get(bindingKey);
    if (cached) {
      const reached = await this.pushes.routeChecked(bindingKey, cached.members, route(cached.rows), suffix, envelopeJson);
      if (reached !== 'stale') return reached;
    }
    const members = await this.redis.smembers(bindingKey);
    const rows = this.bindingRows(members);
    this.tableCopies.set(bindingKey, { members, rows });
    const queues = route(rows);
    await Promise.all(queues.map((queue) => this.pushes.push(queue, suffix, envelopeJson, true)));
    return queues;
  }

  putFanout(exchange: string, envelopeJson: string, routingKey: string): Promise<number> {
    return this.redis.publish(this.keys.fanoutChannel(exchange, routingKey), envelopeJson);
  }

  /** The binding rows of a binding set's members (Kombu `get_table`); unreadable members are skipped. */
  bindingRows(members: readonly string[]): BindingRow[] {
    const rows: BindingRow[] = [];
    for (const member of members) {
      const row = this.keys.parseBindingMember(member);
      if (row) rows.push(row);
    }
    return rows;
  }

  private get pushes(): PushBatcher {
    this.pushBatcher ??= new PushBatcher(this.redis, this.keys.prefix, this.keys.sep, this.keys.queuePolicyNames(), (error) =>
      wrapRedisError(error, this.redactedUrl, 'lpush'),
    );
    return this.pushBatcher;
  }

  /** `""` for step 0, else `<sep><step>`: what queueKeyForPriority appends to the queue name. */
  private stepSuffix(priority: number): string {
    // priority is clamped to 0..9 by basicPublish; anything else is computed, not cached.
    const cacheable = Number.isInteger(priority) && priority >= 0 && priority <= 9;
    const cached = cacheable ? this.suffixes[priority] : undefined;
    if (cached !== undefined) return cached;
    const suffix = this.keys.queueName('', this.keys.priorityStep(priority));
    if (cacheable) this.suffixes[priority] = suffix;
    return suffix;
  }
}
