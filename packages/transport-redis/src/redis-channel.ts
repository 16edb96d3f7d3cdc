/**
 * `RedisChannel`: the virtual channel's storage hooks on Redis, with Kombu 5.2.4's key layout
 * (docs/wire-format.md#keys) and ack emulation (docs/wire-format.md#ack-emulation). Everything
 * AMQP-like (routing, QoS, consumers) is in
 * `@kelp/virtual`; this file only says how each hook maps to Redis commands on the consume side
 * (atomic pop + record, acks, restores, dead letters, poller hand-over); the publish side and
 * the queue/binding storage are in redis-channel-base.ts.
 */
import { isUtf8 } from 'node:buffer';
import {
  type GetOptions,
  type GetResult,
  type RestoreOptions,
  type RestoreOutcome,
  type RouteResolver,
  type DeadLetterOutcome,
  clampPriority,
  markRedeliveredInPlace,
} from '@kelp/virtual';
import { BoundedMemo } from './bounded-memo.js';
import { deadLetterRecord, deadLetterUnackedEntry } from './dead-letters.js';
import { RedisStorageChannel } from './redis-channel-base.js';
import { RecordBatcher } from './record-batcher.js';
import { restoreInBatches } from './restore-batches.js';
import { AckCoalescer, popAndRecord, restoreByTag, type PoppedEntry } from './scripts.js';

export type { RedisChannelContext } from './redis-channel-base.js';

/** ioredis decodes replies as UTF-8 with U+FFFD for bad bytes; see RedisChannel.storedAsText. */
const mayNotBeStoredBytes = (text: string): boolean => text.includes('\uFFFD');

/** How often restoreUnacked re-reads an entry that changed under it before giving up. */
const RESTORE_RETRIES = 5;

export class RedisChannel extends RedisStorageChannel {
  /**
   * ackEmulation off (Kombu's plain QoS, docs/wire-format.md#without-ack-emulation): delivered
   * messages are kept only here, so a reject-with-requeue or a close can still put them back; a
   * crash loses them, as in Kombu.
   */
  private readonly localUnacked = new Map<string, { payload: string; exchange: string; routingKey: string }>();
  private acks: AckCoalescer | undefined;
  private records: RecordBatcher | undefined;
  private readonly poppedKeyQueues = new BoundedMemo(10_000, (key) => this.keys.queueFromKey(key));

  private get ackEmulation(): boolean {
    return this.ctx.options.ackEmulation;
  }

  // ---- taking messages -------------------------------------------------------------------------

  /**
   * One message of `queue`. A malformed entry at the head is dead-lettered by the pop script and
   * yields nothing, so pop again: "empty" is only reported when the lists really are empty.
   * Each round removes one entry, so the loop ends after at most as many rounds as entries.
   */
  protected async get(queue: string, options: GetOptions): Promise<GetResult | undefined> {
    for (;;) {
      const { results, taken } = await this.popCounted([queue], 1, options);
      if (results.length > 0 || taken === 0) return results[0];
    }
  }

  protected override async getMany(queues: readonly string[], max: number, options: GetOptions): Promise<GetResult[]> {
    return this.pop(queues, max, options);
  }

  /** basicGet/fetch path: the same atomic pop+record as the poller, on the command connection. */
  private async pop(queues: readonly string[], max: number, options: GetOptions): Promise<GetResult[]> {
    return (await this.popCounted(queues, max, options)).results;
  }

  /** `pop` plus how many list entries were taken (good or dead-lettered). */
  private async popCounted(queues: readonly string[], max: number, options: GetOptions): Promise<{ results: GetResult[]; taken: number }> {
    const keys = this.keys.popKeys(queues);
    const entries = await popAndRecord(
      this.redis,
      {
        unacked: this.keys.unacked,
        unackedIndex: this.keys.unackedIndex,
        queues: keys.map((k) => [k, this.keys.deadLetterKey(this.keys.queueFromKey(k))] as const),
      },
      { now: this.ctx.wallClock(), limit: max, record: this.ackEmulation && !options.noAck },
    );
    const out: GetResult[] = [];
    for (const entry of entries) {
      const queue = this.queueOfPoppedKey(entry.key);
      if (entry.kind === 'dead') {
        this.host.reportDeadLettered({ queue, reason: entry.reason });
        continue;
      }
      if (this.ackEmulation && !options.noAck && !(await this.storedAsText(queue, entry))) continue;
      if (!this.ackEmulation && !options.noAck) this.rememberLocally(entry.deliveryTag, entry.payload);
      out.push({ queue, payload: entry.payload, deliveryTag: entry.deliveryTag });
    }
    return { results: out, taken: entries.length };
  }

  private rememberLocally(tag: string, payload: string): void {
    try {
      const info = (JSON.parse(payload) as { properties?: { delivery_info?: { exchange?: unknown; routing_key?: unknown } } }).properties?.delivery_info;
      this.localUnacked.set(tag, {
        payload,
        exchange: typeof info?.exchange === 'string' ? info.exchange : '',
        routingKey: typeof info?.routing_key === 'string' ? info.routing_key : '',
      });
    } catch {
      // Unparseable payloads never reach a consumer (the Lua dead-letters them).
    }
  }
  // ---- ack emulation ---------------------------------------------------------------------------

  protected ackUnacked(tags: readonly string[]): Promise<void> {
    if (!this.ackEmulation) {
      for (const tag of tags) this.localUnacked.delete(tag);
      return Promise.resolve();
    }
    if (tags.length === 0) return Promise.resolve();
    // One script call per tick for all acks of this channel; every caller gets that call's
    // promise directly (see AckCoalescer).
    this.acks ??= new AckCoalescer(this.redis, this.keys.unacked, this.keys.unackedIndex);
    return this.acks.ack(tags);
  }

  /**
   * Kombu's delivery record: MULTI ZADD unacked_index <now> <tag>; HSET unacked <tag> [env, ex, rk];
   * EXEC, one transaction for all records of a tick (fanout deliveries; see RecordBatcher).
   */
  protected recordUnacked(tag: string, envelopeJson: string, exchange: string, routingKey: string): Promise<void> {
    if (!this.ackEmulation) {
      this.localUnacked.set(tag, { payload: envelopeJson, exchange, routingKey });
      return Promise.resolve();
    }
    this.records ??= new RecordBatcher(this.redis, this.keys.unacked, this.keys.unackedIndex, this.ctx.wallClock);
    return this.records.record(tag, `[${envelopeJson}, ${JSON.stringify(exchange)}, ${JSON.stringify(routingKey)}]`);
  }

  /** The deadline becomes now + seconds; never shortens one (ZADD XX GT). */
  protected override async extendUnacked(tag: string, seconds: number): Promise<void> {
    if (!this.ackEmulation) return;
    const score = this.ctx.wallClock() + seconds - this.ctx.options.visibilityTimeout;
    await this.redis.zadd(this.keys.unackedIndex, 'XX', 'GT', score.toFixed(6), tag);
  }

  /**
   * Kombu `restore_by_tag` as read + compare-and-swap: HGET, mark redelivered, resolve the target
   * queues in JS (routing needs this process's exchange types), then the Lua pushes only if the
   * entry is still exactly what was read (see restore-by-tag-n.lua).
   */
  protected async restoreUnacked(tag: string, options: RestoreOptions, resolveQueues: RouteResolver): Promise<RestoreOutcome> {
    if (!this.ackEmulation) return this.restoreLocal(tag, options, resolveQueues);
    for (let attempt = 0; attempt < RESTORE_RETRIES; attempt++) {
      const raw = await this.redis.hget(this.keys.unacked, tag);
      if (raw === null) return { status: 'missing', deliveryTag: tag };
      const entry = parseUnackedEntry(raw);
      const envelope = entry ? markRedeliveredObject(entry.envelope) : raw;
      const exchange = entry?.exchange ?? '';
      const routingKey = entry?.routingKey ?? '';
      const queues = entry ? await resolveQueues(exchange, routingKey, envelope) : [];
      const priority = entry ? clampPriority((entry.envelope.properties as Record<string, unknown> | undefined)?.priority) : 0;
      // 'bare' is what Kombu 5.2.4 writes (docs/wire-format.md#restore: priority lost); 'priority'
      // is HEAD's.
      const targets = queues.map((q) => (this.ctx.options.restoreTarget === 'priority' ? this.keys.queueKeyForPriority(q, priority) : this.keys.queueKey(q)));
      const result = await restoreByTag(
        this.redis,
        { unacked: this.keys.unacked, unackedIndex: this.keys.unackedIndex, targets },
        { tag, expected: raw, envelope, leftmost: options.leftmost },
      );
      if (result === 0) return { status: 'missing', deliveryTag: tag };
      if (result === 1) {
        return queues.length > 0
          ? { status: 'restored', deliveryTag: tag, queues }
          : { status: 'unroutable', deliveryTag: tag, envelope, exchange, routingKey };
      }
    }
    throw new Error(`unacked entry ${tag} kept changing during restore; it stays unacked until the next sweep`);
  }

  private async restoreLocal(tag: string, options: RestoreOptions, resolveQueues: RouteResolver): Promise<RestoreOutcome> {
    const entry = this.localUnacked.get(tag);
    if (!entry) return { status: 'missing', deliveryTag: tag };
    this.localUnacked.delete(tag);
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

  /**
   * Kombu `restore_visible` (docs/wire-format.md#visibility-timeout) in bounded batches
   * (restore-batches.ts): each batch takes
   * `unacked_mutex` (SET NX PX), restores (RPUSH, head of queue) up to 200 entries older than the
   * visibility timeout, newest-expired first, and releases the lock. A lock another process (kelp
   * or Python) holds for more than 250 ms means it is sweeping: stop silently, as Kombu skips.
   * An entry with no route goes to a dead-letter list in the same step instead of being dropped.
   */
  protected override async restoreExpiredUnacked(resolveQueues: RouteResolver, signal?: AbortSignal): Promise<RestoreOutcome[]> {
    if (!this.ackEmulation) return [];
    const { options } = this.ctx;
    const { items } = await restoreInBatches(this.redis, this.keys, {
      ceiling: this.ctx.wallClock() - options.visibilityTimeout,
      ...(options.unackedRestoreLimit === undefined ? {} : { limit: options.unackedRestoreLimit }),
      resolve: resolveQueues,
      target: options.restoreTarget,
      // Batches hold the lock for ~ms, so a short wait beats skipping: a skipped sweep waits a
      // whole restore period (Kombu: ~100 s) before it looks again.
      lock: { expireMs: Math.round(options.unackedMutexExpire * 1000), waitMs: 250 },
      wallClock: this.ctx.wallClock,
      ...(signal === undefined ? {} : { signal }),
    });
    return items.map(
      (item): RestoreOutcome =>
        item.status === 'restored'
          ? { status: 'restored', deliveryTag: item.tag, queues: item.queues }
          : { status: 'dead-lettered', deliveryTag: item.tag, queue: item.queues[0] ?? '', reason: item.reason ?? 'dead-lettered on restore' },
    );
  }

  protected async deadLetter(queue: string, rawPayload: string, reason: string): Promise<void> {
    const record = deadLetterRecord({ reason, queue, payload: rawPayload, time: this.ctx.wallClock() });
    await this.redis.lpush(this.keys.deadLetterKey(queue), record);
  }

  /**
   * Moves the unacked record to the dead-letter list with the envelope's original bytes: read the
   * entry, build the record, then swap in one Lua step if the entry is unchanged (retrying a few
   * times if it changed). Without ack emulation the locally kept payload is used.
   */
  protected override async deadLetterUnacked(tag: string, queue: string | undefined, reason: string): Promise<DeadLetterOutcome | undefined> {
    if (!this.ackEmulation) {
      const local = this.localUnacked.get(tag);
      if (!local) return undefined;
      this.localUnacked.delete(tag);
      const target = queue ?? (local.routingKey || local.exchange);
      await this.deadLetter(target, local.payload, reason);
      return { queue: target };
    }
    return deadLetterUnackedEntry(this.redis, this.keys, { tag, queue, reason, now: this.ctx.wallClock() });
  }

  /** Celery ETA: the record is scored at the due time; never earlier than it is (ZADD XX GT). */
  protected override async holdUnackedUntil(tag: string, epochSeconds: number): Promise<void> {
    if (!this.ackEmulation) return;
    await this.redis.zadd(this.keys.unackedIndex, 'XX', 'GT', epochSeconds.toFixed(6), tag);
  }

  // ---- consuming -------------------------------------------------------------------------------

  queueFromKey(key: string): string {
    return this.keys.queueFromKey(key);
  }

  /** queueFromKey, remembered: a batch of popped messages usually names one key many times. */
  private queueOfPoppedKey(key: string): string {
    return this.poppedKeyQueues.get(key);
  }

  /** Queues bound (in this process) to a fanout exchange are consumed over pub/sub, not popped. */
  isFanoutQueue(queue: string): boolean {
    return this.brokerState.queueBindings(queue).some((b) => this.brokerState.typeOf(b.exchange) === 'fanout');
  }

  /** PSUBSCRIBE pattern -> queues of this channel it feeds. */
  fanoutPatternMap(): Map<string, string[]> {
    const map = new Map<string, string[]>();
    for (const queue of this.consumedQueues) {
      for (const b of this.brokerState.queueBindings(queue)) {
        if (this.brokerState.typeOf(b.exchange) !== 'fanout') continue;
        const pattern = this.keys.fanoutPattern(b.exchange, b.routingKey);
        const list = map.get(pattern) ?? [];
        if (!list.includes(queue)) list.push(queue);
        map.set(pattern, list);
      }
    }
    return map;
  }

  protected override onConsumersChanged(): void {
    if (this.hasConsumers) this.ctx.ensurePoller(this).nudge();
  }

  protected override async onClose(): Promise<void> {
    await this.ctx.releasePoller(this);
  }

  /** Delivers what the poller popped (already recorded when ack emulation is on). */
  deliverPopped(entries: readonly PoppedEntry[], recorded: boolean): void {
    for (const entry of entries) {
      const queue = this.queueOfPoppedKey(entry.key);
      if (entry.kind === 'dead') {
        this.host.reportDeadLettered({ queue, reason: entry.reason });
        continue;
      }
      this.cycle.rotate(queue);
      if (recorded && mayNotBeStoredBytes(entry.payload)) {
        this.deliverIfStoredAsText(queue, entry).catch((error: unknown) => this.host.reportError(error));
        continue;
      }
      this.handleIncoming(queue, entry.payload, { recorded, deliveryTag: entry.deliveryTag }).catch((error: unknown) => this.host.reportError(error));
    }
  }

  /**
   * Popped list messages this channel will not deliver now (a blocking wait's pop that ran after
   * the hub stopped): back to the heads of their queues, in order, and out of unacked.
   */
  giveBackPopped(entries: readonly PoppedEntry[], recorded: boolean): void {
    for (const entry of entries) {
      const queue = this.queueOfPoppedKey(entry.key);
      if (entry.kind === 'dead') this.host.reportDeadLettered({ queue, reason: entry.reason });
      else void this.requeueUndeliverable({ queue, payload: entry.payload, recorded });
    }
  }

  private async deliverIfStoredAsText(queue: string, entry: PoppedEntry & { kind: 'message' }): Promise<void> {
    if (await this.storedAsText(queue, entry)) await this.handleIncoming(queue, entry.payload, { recorded: true, deliveryTag: entry.deliveryTag });
  }

  /**
   * Whether a message the pop script recorded is valid UTF-8 as stored. The script's fast path
   * leaves that check to us (see pop-and-record-n.lua), and ioredis has already turned bad bytes
   * into U+FFFD, so text without one is certainly what was stored; with one (rare, and possibly
   * legitimate) the record's bytes decide. Invalid bytes are dead-lettered here: false. False
   * too when the record is gone (restored or settled elsewhere since the pop: not ours to deliver).
   */
  private async storedAsText(queue: string, entry: PoppedEntry & { kind: 'message' }): Promise<boolean> {
    if (!mayNotBeStoredBytes(entry.payload)) return true;
    const stored = await this.redis.hgetBuffer(this.keys.unacked, entry.deliveryTag);
    if (stored === null) return false;
    if (isUtf8(stored)) return true;
    await this.deadLetterPayload(queue, entry.payload, 'payload is not valid UTF-8', true, entry.deliveryTag);
    return false;
  }
}

interface UnackedEntry {
  envelope: Record<string, unknown>;
  exchange: string;
  routingKey: string;
}

/** Parses Kombu's `[envelope, exchange, routing_key]` hash value; undefined when malformed. */
export function parseUnackedEntry(raw: string): UnackedEntry | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (!Array.isArray(value) || typeof value[0] !== 'object' || value[0] === null) return undefined;
    return {
      envelope: value[0] as Record<string, unknown>,
      exchange: typeof value[1] === 'string' ? value[1] : '',
      routingKey: typeof value[2] === 'string' ? value[2] : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * docs/wire-format.md#redelivery-markers: headers.redelivered and delivery_info.redelivered set,
 * and kelp's redelivery count (`x-delivery-count`) incremented; everything else unchanged.
 */
function markRedeliveredObject(envelope: Record<string, unknown>): string {
  const copy = structuredClone(envelope);
  markRedeliveredInPlace(copy);
  return JSON.stringify(copy);
}
