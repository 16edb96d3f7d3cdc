/**
 * The storage half of `RedisChannel` that does not take messages: the publish path (LPUSH to the
 * priority sub-list, batched; one-round-trip direct and topic routing; fanout PUBLISH), queue
 * sizes, purges and deletes, and the binding sets (docs/wire-format.md#keys). Split from
 * redis-channel.ts only to keep files short; the consume, ack and restore path is there.
 */
import type { QueueDeclareOptions } from '@kelp/core';
import { type BindingRow, type ChannelHost, readAckInfo, VirtualChannel } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { BoundedMemo } from './bounded-memo.js';
import type { ChannelPoller } from './channel-poller.js';
import { wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import type { RedisTransportOptions } from './options.js';
import type { RedisChannel } from './redis-channel.js';
import { PushBatcher } from './push-batcher.js';

/** What a RedisChannel needs from its transport beyond the virtual host interface. */
export interface RedisChannelContext {
  readonly client: Redis;
  readonly keys: RedisKeys;
  /** The broker URL without its password, for error messages. */
  readonly redactedUrl: string;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds (Kombu's time.time()). */
  readonly wallClock: () => number;
  /** Creates (once) the poll/subscriber connections of a consuming channel. */
  ensurePoller(channel: RedisChannel): ChannelPoller;
  releasePoller(channel: RedisChannel): Promise<void>;
}

export abstract class RedisStorageChannel extends VirtualChannel {
  protected override readonly supportsFanout = true;
  protected readonly redis: Redis;
  protected readonly keys: RedisKeys;
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

  constructor(
    host: ChannelHost,
    channelId: number,
    protected readonly ctx: RedisChannelContext,
  ) {
    super(host, channelId);
    this.redis = ctx.client;
    this.keys = ctx.keys;
  }

  // ---- queues ----------------------------------------------------------------------------------

  /** LPUSH to the priority sub-list, batched with the tick's other pushes (PushBatcher). */
  protected put(queue: string, envelopeJson: string, priority: number): Promise<void> {
    // Not `async`: the batcher's promise as is (one promise less per publish).
    return this.pushes.push(queue, this.stepSuffix(priority), envelopeJson);
  }

  /**
   * Stores a fanout message the poller could not keep in memory in the queue's list (its priority
   * sub-list), where the normal pops deliver it. A payload that is not an envelope goes to step 0
   * and is dead-lettered by the pop like any malformed list entry.
   */
  async spillFanout(queue: string, payload: string): Promise<void> {
    await this.put(queue, payload, readAckInfo(payload)?.priority ?? 0);
  }

  /** RPUSH: back to the head (the next RPOP), for a message taken and never delivered. */
  protected override async putFront(queue: string, envelopeJson: string, priority: number): Promise<void> {
    await this.redis.rpush(this.keys.queueKeyForPriority(queue, priority), envelopeJson);
  }

  /** A direct-exchange publish: lookup and pushes in one script call on the server. */
  protected override putDirect(exchange: string, routingKey: string, envelopeJson: string, priority: number): Promise<string[]> {
    return this.pushes.routeDirect(this.bindingKeyOf(exchange), routingKey, this.stepSuffix(priority), envelopeJson);
  }

  /**
   * A topic publish in one round trip while the bindings do not change: match against this
   * channel's copy of the set, and let the script push only if the set is still that copy. When
   * it changed ('stale'), read it again and push as Kombu does (lookup, then LPUSH).
   */
  protected override async putRouted(
    exchange: string,
    envelopeJson: string,
    priority: number,
    route: (table: readonly BindingRow[]) => string[],
  ): Promise<string[]> {
    const bindingKey = this.bindingKeyOf(exchange);
    const suffix = this.stepSuffix(priority);
    const cached = this.tableCopies.get(bindingKey);
    if (cached) {
      const reached = await this.pushes.routeChecked(bindingKey, cached.members, route(cached.rows), suffix, envelopeJson);
      if (reached !== 'stale') return reached;
    }
    const members = await this.redis.smembers(bindingKey);
    const rows: BindingRow[] = [];
    for (const member of members) {
      const row = this.keys.parseBindingMember(member);
      if (row) rows.push(row);
    }
    this.tableCopies.set(bindingKey, { members, rows });
    const queues = route(rows);
    await Promise.all(queues.map((queue) => this.pushes.push(queue, suffix, envelopeJson, true)));
    return queues;
  }

  private get pushes(): PushBatcher {
    this.pushBatcher ??= new PushBatcher(this.redis, this.keys.prefix, this.keys.sep, (error) =>
      wrapRedisError(error, this.ctx.redactedUrl, 'lpush'),
    );
    return this.pushBatcher;
  }

  /** `""` for step 0, else `<sep><step>`: what queueKeyForPriority appends to the queue name. */
  private stepSuffix(priority: number): string {
    // priority is clamped to 0..9 by basicPublish; anything else is computed, not cached.
    const cached = Number.isInteger(priority) && priority >= 0 && priority <= 9 ? this.suffixes[priority] : undefined;
    if (cached !== undefined) return cached;
    const suffix = this.keys.queueName('', this.keys.priorityStep(priority));
    if (Number.isInteger(priority) && priority >= 0 && priority <= 9) this.suffixes[priority] = suffix;
    return suffix;
  }

  private bindingKeyOf(exchange: string): string {
    return this.bindingKeys.get(exchange);
  }

  protected override async putFanout(exchange: string, envelopeJson: string, routingKey: string): Promise<number> {
    return this.redis.publish(this.keys.fanoutChannel(exchange, routingKey), envelopeJson);
  }


  protected async purge(queue: string): Promise<number> {
    const multi = this.redis.multi();
    for (const key of this.keys.queueKeys(queue)) multi.llen(key).del(key);
    const results = (await multi.exec()) ?? [];
    let removed = 0;
    for (let i = 0; i < results.length; i += 2) removed += Number(results[i]?.[1] ?? 0);
    return removed;
  }

  protected async size(queue: string): Promise<number> {
    const multi = this.redis.multi();
    for (const key of this.keys.queueKeys(queue)) multi.llen(key);
    const results = (await multi.exec()) ?? [];
    return results.reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  protected async deleteQueue(queue: string): Promise<void> {
    await this.redis.del(...this.keys.queueKeys(queue));
  }

  /**
   * EXISTS over the step lists (prefixed, unlike Kombu's latent bug,
   * docs/wire-format.md#global_keyprefix).
   */
  protected async hasQueue(queue: string): Promise<boolean> {
    return (await this.redis.exists(...this.keys.queueKeys(queue))) > 0;
  }

  /** Redis lists need no creation (an empty list is no key at all). */
  protected async newQueue(_queue: string, _options: QueueDeclareOptions): Promise<void> {}

  // ---- bindings --------------------------------------------------------------------------------

  protected async getTable(exchange: string): Promise<BindingRow[]> {
    const members = await this.redis.smembers(this.keys.bindingKey(exchange));
    const rows: BindingRow[] = [];
    for (const member of members) {
      const row = this.keys.parseBindingMember(member);
      if (row) rows.push(row);
    }
    return rows;
  }

  protected async addBinding(exchange: string, row: BindingRow): Promise<void> {
    await this.redis.sadd(this.keys.bindingKey(exchange), this.keys.bindingMember(row));
  }

  protected async removeBinding(exchange: string, row: BindingRow): Promise<void> {
    await this.redis.srem(this.keys.bindingKey(exchange), this.keys.bindingMember(row));
  }
}
