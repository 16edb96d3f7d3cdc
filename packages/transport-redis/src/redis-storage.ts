/**
 * `RedisStorage`: the {@link ChannelStorage} of a Redis channel, with Kombu 5.2.4's key layout
 * (docs/wire-format.md#keys): queues are lists split by priority step, bindings are sets, takes
 * are one atomic pop-and-record script. Capabilities: all of them: fanout over pub/sub, one-step direct and topic
 * routing, batched pops, head puts (RedisPublishing), and with `ackEmulation` (the default) the
 * visibility timeout and atomic dead-lettering of unacked records (RedisUnackedStore); without it
 * a process-local unacked store (LocalUnackedStore).
 */
import { isUtf8 } from 'node:buffer';
import type { QueueDeclareOptions } from '@kelp/core';
import type { BindingRow, BatchGet, ChannelStorage, GetOptions, GetResult, ReplicaAcknowledgement } from '@kelp/virtual';
import { EXPIRED_REASON, MAXLEN_REASON } from '@kelp/virtual';
import { moveTakenAside } from '@kelp/virtual/internal';
import type { Redis } from 'ioredis';
import { BoundedMemo } from './bounded-memo.js';
import { deadLetterRecord } from './dead-letters.js';
import type { RedisKeys } from './keys.js';
import { LocalUnackedStore } from './local-unacked.js';
import type { RedisTransportOptions } from './options.js';
import { RedisDelayed } from './redis-delayed.js';
import { queueArgumentFields } from './queue-argument-fields.js';
import { RedisPublishing } from './redis-publishing.js';
import { RedisQueueExpiry, touchOnOneNode } from './redis-queue-expiry.js';
import { RedisUnackedStore } from './redis-unacked.js';
import { expiredDeadLetterFlags, popAndRecord, type PoppedEntry } from './scripts.js';

/** What a channel's Redis storage needs from its transport. */
export interface RedisStorageContext {
  readonly client: Redis;
  readonly keys: RedisKeys;
  /** The broker URL without its password, for error messages. */
  readonly redactedUrl: string;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds (Kombu's time.time()). */
  readonly wallClock: () => number;
  /** The pop script dead-lettered a malformed entry, or a popped payload was not valid UTF-8. */
  reportDeadLettered(info: { queue: string; reason: string }): void;
  /** A batch of acks settled (see RedisUnackedContext). */
  acksSettled?(): void;
  /** Where confirmed publishes write and wait for replicas (the transport's ConfirmConnection). */
  readonly replication: ReplicaAcknowledgement;
}

/** ioredis decodes replies as UTF-8 with U+FFFD for bad bytes; see RedisStorage.storedAsText. */
export const mayNotBeStoredBytes = (text: string): boolean => text.includes('\uFFFD');

export class RedisStorage implements ChannelStorage, BatchGet {
  readonly unacked: RedisUnackedStore | LocalUnackedStore;
  readonly fanout: RedisPublishing;
  readonly routing: RedisPublishing;
  readonly headPut: RedisPublishing;
  readonly delayed: RedisDelayed;
  readonly queueExpiry: RedisQueueExpiry;
  readonly batchGet: BatchGet = this;
  readonly replication: ReplicaAcknowledgement;
  private readonly redis: Redis;
  private readonly keys: RedisKeys;
  private readonly publishing: RedisPublishing;
  /** Set when ackEmulation is off: messages taken with acks are remembered here instead of Redis. */
  private readonly local: LocalUnackedStore | undefined;
  private readonly poppedKeyQueues: BoundedMemo<string>;

  constructor(private readonly ctx: RedisStorageContext) {
    this.redis = ctx.client;
    this.keys = ctx.keys;
    this.publishing = new RedisPublishing(ctx.client, ctx.keys, ctx.redactedUrl);
    this.fanout = this.routing = this.headPut = this.publishing;
    this.delayed = this.publishing.delayed;
    this.queueExpiry = new RedisQueueExpiry(touchOnOneNode(ctx.client, ctx.keys), ctx.redactedUrl);
    this.replication = ctx.replication;
    this.poppedKeyQueues = new BoundedMemo(10_000, (key) => ctx.keys.queueFromKey(key));
    if (ctx.options.ackEmulation) {
      this.unacked = new RedisUnackedStore({
        redis: ctx.client,
        keys: ctx.keys,
        options: ctx.options,
        wallClock: ctx.wallClock,
        acksSettled: () => ctx.acksSettled?.(),
      });
    } else {
      this.local = new LocalUnackedStore(ctx.client, ctx.keys, (queue, payload, reason) => this.deadLetter(queue, payload, reason));
      this.unacked = this.local;
    }
  }

  // ---- queues ----------------------------------------------------------------------------------

  put(queue: string, envelopeJson: string, priority: number): Promise<void> {
    return this.publishing.put(queue, envelopeJson, priority);
  }

  /**
   * One message of `queue`. A malformed entry at the head is dead-lettered by the pop script and
   * yields nothing, so pop again: "empty" is only reported when the lists really are empty.
   * Each round removes one entry, so the loop ends after at most as many rounds as entries.
   */
  async get(queue: string, options: GetOptions): Promise<GetResult | undefined> {
    for (;;) {
      const { results, taken } = await this.pop([queue], 1, options);
      if (results.length > 0 || taken === 0) return results[0];
    }
  }

  /** The same atomic pop+record as the poller's, on the command connection. */
  async getMany(queues: readonly string[], max: number, options: GetOptions): Promise<GetResult[]> {
    return (await this.pop(queues, max, options)).results;
  }

  /** Pops up to `max` messages plus how many list entries were taken (good or dead-lettered). */
  private async pop(queues: readonly string[], max: number, options: GetOptions): Promise<{ results: GetResult[]; taken: number }> {
    const { keys } = this;
    const record = this.local === undefined && !options.noAck;
    const pairs = keys.popKeys(queues).map((k) => [k, keys.deadLetterKey(keys.queueFromKey(k))] as const);
    const { expiry } = options;
    const entries = await popAndRecord(
      this.redis,
      { unacked: keys.unacked, unackedIndex: keys.unackedIndex, queues: pairs, expiredDropped: keys.droppedKey(EXPIRED_REASON) },
      {
        now: this.ctx.wallClock(),
        limit: max,
        record,
        deadLetterFlags: expiredDeadLetterFlags(pairs, expiry && ((key) => expiry.deadLetters(this.queueOfKey(key)))),
      },
    );
    const out: GetResult[] = [];
    for (const entry of entries) {
      const queue = this.queueOfKey(entry.key);
      if (entry.kind === 'dead') {
        this.ctx.reportDeadLettered({ queue, reason: entry.reason });
        continue;
      }
      if (entry.kind === 'expired') {
        expiry?.report({ queue, deadLettered: entry.deadLettered });
        continue;
      }
      if (record && !(await this.storedAsText(queue, entry))) continue;
      if (!options.noAck) this.local?.remember(entry.deliveryTag, entry.payload);
      out.push({ queue, payload: entry.payload, deliveryTag: entry.deliveryTag });
    }
    return { results: out, taken: entries.length };
  }

  /** The queue a popped list key belongs to, remembered: a batch usually names one key many times. */
  queueOfKey(key: string): string {
    return this.poppedKeyQueues.get(key);
  }

  /**
   * Whether a message the pop script recorded is valid UTF-8 as stored. The script's fast path
   * leaves that check to us (see pop-and-record-n.lua), and ioredis has already turned bad bytes
   * into U+FFFD, so text without one is certainly what was stored; with one (rare, and possibly
   * legitimate) the record's bytes decide. Invalid bytes are dead-lettered here: false. False
   * too when the record is gone (restored or settled elsewhere since the pop: not ours to deliver).
   */
  async storedAsText(queue: string, entry: PoppedEntry & { kind: 'message' }): Promise<boolean> {
    if (!mayNotBeStoredBytes(entry.payload)) return true;
    const stored = await this.redis.hgetBuffer(this.keys.unacked, entry.deliveryTag);
    if (stored === null) return false;
    if (isUtf8(stored)) return true;
    const reason = 'payload is not valid UTF-8';
    await moveTakenAside(this, { queue, payload: entry.payload, reason, tag: entry.deliveryTag });
    this.ctx.reportDeadLettered({ queue, reason });
    return false;
  }

  /** Empties the queue's lists and its delayed set (counted with them). */
  async purge(queue: string): Promise<number> {
    const multi = this.redis.multi();
    for (const key of this.keys.queueKeys(queue)) multi.llen(key).del(key);
    const delayed = this.keys.delayedKey(queue);
    multi.zcard(delayed).del(delayed).zrem(this.keys.delayedIndex, queue);
    const results = (await multi.exec()) ?? [];
    let removed = 0;
    // Pairs of (count, DEL) per list and for the delayed set; the trailing ZREM is not a count.
    for (let i = 0; i + 1 < results.length; i += 2) removed += Number(results[i]?.[1] ?? 0);
    return removed;
  }

  async size(queue: string): Promise<number> {
    const multi = this.redis.multi();
    for (const key of this.keys.queueKeys(queue)) multi.llen(key);
    const results = (await multi.exec()) ?? [];
    return results.reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  async deleteQueue(queue: string): Promise<void> {
    await this.redis
      .multi()
      .del(...this.keys.queueKeys(queue), this.keys.queueArgumentsKey(queue), this.keys.delayedKey(queue))
      .zrem(this.keys.delayedIndex, queue)
      .hdel(this.keys.droppedKey(EXPIRED_REASON), this.keys.deadLetterKey(queue))
      .hdel(this.keys.droppedKey(MAXLEN_REASON), this.keys.deadLetterKey(queue))
      .exec();
  }

  /**
   * EXISTS over the step lists (prefixed, unlike Kombu's latent bug,
   * docs/wire-format.md#global_keyprefix).
   */
  async hasQueue(queue: string): Promise<boolean> {
    return (await this.redis.exists(...this.keys.queueKeys(queue))) > 0;
  }

  /**
   * Redis lists need no creation (an empty list is no key at all). The arguments every publisher
   * must apply (`x-message-ttl`) go to the queue's argument hash, which a declaration with
   * arguments replaces and one without leaves as it is.
   */
  async newQueue(queue: string, options: QueueDeclareOptions): Promise<void> {
    await this.declareArguments(queue, options);
    // A declaration is use of the queue (x-expires): its keys get their full expiry again.
    await this.queueExpiry.touch([queue]);
  }

  private async declareArguments(queue: string, options: QueueDeclareOptions): Promise<void> {
    if (options.arguments === undefined || Object.keys(options.arguments).length === 0) return;
    this.queueExpiry.forget(queue);
    const key = this.keys.queueArgumentsKey(queue);
    const fields = queueArgumentFields(options.arguments);
    const multi = this.redis.multi().del(key);
    if (Object.keys(fields).length > 0) multi.hset(key, fields);
    await multi.exec();
  }

  async countDropped(queue: string, reason: string): Promise<void> {
    await this.redis.hincrby(this.keys.droppedKey(reason), this.keys.deadLetterKey(queue), 1);
  }

  async deadLetter(queue: string, rawPayload: string, reason: string): Promise<void> {
    const record = deadLetterRecord({ reason, queue, payload: rawPayload, time: this.ctx.wallClock() });
    await this.redis.lpush(this.keys.deadLetterKey(queue), record);
  }

  // ---- bindings --------------------------------------------------------------------------------

  async getTable(exchange: string): Promise<BindingRow[]> {
    return this.publishing.bindingRows(await this.redis.smembers(this.keys.bindingKey(exchange)));
  }

  async addBinding(exchange: string, row: BindingRow): Promise<void> {
    await this.redis.sadd(this.keys.bindingKey(exchange), this.keys.bindingMember(row));
  }

  async removeBinding(exchange: string, row: BindingRow): Promise<void> {
    await this.redis.srem(this.keys.bindingKey(exchange), this.keys.bindingMember(row));
  }
}
