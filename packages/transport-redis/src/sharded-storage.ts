/**
 * `ShardedStorage`: the {@link ChannelStorage} of the sharded cluster layout (keys.ts): every
 * key of a queue carries the queue's hash tag, so each command or script names the keys of one
 * queue and goes to the master of that queue's slot (cluster-node-pool.ts); a binding set goes
 * to the master of its own key. Nothing here ever names two queues in one command, so no
 * `CROSSSLOT` can happen.
 *
 * Takes (`getMany`, the poller's path) group the queues by master; on each master one pipeline
 * reads the lists' lengths, and then one pop-and-record per non-empty queue (its own unacked
 * keys) is sent, the channel's room shared out over them in turn, so a poll never takes more
 * than the prefetch allows. Publishing is ShardedPublishing, confirmed publishing ShardedConfirm;
 * acks ShardedUnackedStore; delayed delivery the transport's ShardedDelayed (one per transport,
 * so the mover knows what every channel stored). Queue arguments live in the queue's argument
 * hash and are applied by the scripts on the queue's master, on keys of its slot: length limits
 * by the publish script (drops counted in the queue's own `_kelp.dropped.maxlen.{<q>}`),
 * x-expires by the touch, one call per slot. What the layout does not offer (see
 * sharded-refusals.ts) is refused before anything is written.
 */
import { isUtf8 } from 'node:buffer';
import type { QueueDeclareOptions } from '@kelp/core';
import type { BatchGet, BindingRow, ChannelStorage, DelayedDelivery, GetOptions, GetResult, ReplicaAcknowledgement } from '@kelp/virtual';
import { EXPIRED_REASON, MAXLEN_REASON } from '@kelp/virtual';
import { moveTakenAside } from '@kelp/virtual/internal';
import type { Redis } from 'ioredis';
import type { ClusterNodePool } from './cluster-node-pool.js';
import type { ShardedDelayed } from './sharded-delayed.js';
import { deadLetterRecord } from './dead-letters.js';
import type { RedisKeys } from './keys.js';
import type { RedisTransportOptions } from './options.js';
import { queueArgumentFields } from './queue-argument-fields.js';
import { RedisQueueExpiry, type TouchQueues, touchQueuesArgs } from './redis-queue-expiry.js';
import { mayNotBeStoredBytes } from './redis-storage.js';
import { expiredDeadLetterFlags, parsePopReply, popAndRecordArgs, call, type PoppedEntry } from './scripts.js';
import { ShardedPublishing } from './sharded-publishing.js';
import { ShardedUnackedStore } from './sharded-unacked.js';

export interface ShardedStorageContext {
  readonly pool: ClusterNodePool;
  readonly keys: RedisKeys;
  readonly redactedUrl: string;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds (Kombu's time.time()). */
  readonly wallClock: () => number;
  /** The transport's delayed delivery (shared by its channels and its mover). */
  readonly delayed: ShardedDelayed;
  /** Confirmed publishes (ShardedConfirm): a WAIT on every master a publish wrote to. */
  readonly replication: ReplicaAcknowledgement;
  /** The pop script dead-lettered a malformed entry, or a popped payload was not valid UTF-8. */
  reportDeadLettered(info: { queue: string; reason: string }): void;
}

export class ShardedStorage implements ChannelStorage, BatchGet {
  readonly unacked: ShardedUnackedStore;
  readonly fanout: ShardedPublishing;
  readonly routing: ShardedPublishing;
  readonly headPut: ShardedPublishing;
  readonly batchGet: BatchGet = this;
  readonly delayed: DelayedDelivery;
  readonly replication: ReplicaAcknowledgement;
  readonly queueExpiry: RedisQueueExpiry;
  private readonly keys: RedisKeys;
  private readonly publishing: ShardedPublishing;
  /** The first error of a take that still handed out what its other pops took; thrown by the next take. */
  private failedPop: { error: unknown } | undefined;

  constructor(private readonly ctx: ShardedStorageContext) {
    this.keys = ctx.keys;
    this.delayed = ctx.delayed;
    this.replication = ctx.replication;
    this.publishing = new ShardedPublishing(ctx.pool, ctx.keys, ctx.redactedUrl);
    this.fanout = this.routing = this.headPut = this.publishing;
    this.queueExpiry = new RedisQueueExpiry(touchPerSlot(ctx.pool, ctx.keys), ctx.redactedUrl);
    this.unacked = new ShardedUnackedStore({
      pool: ctx.pool,
      keys: ctx.keys,
      options: ctx.options,
      wallClock: ctx.wallClock,
    });
  }

  /** The connection to the master of `queue`'s slot. */
  clientOf(queue: string): Promise<Redis> {
    return this.ctx.pool.forSlot(this.keys.queueSlot(queue));
  }

  // ---- queues ----------------------------------------------------------------------------------

  put(queue: string, envelopeJson: string, priority: number): Promise<void> {
    return this.publishing.put(queue, envelopeJson, priority);
  }

  /** One message of `queue`; pops again past dead-lettered entries, as RedisStorage.get does. */
  async get(queue: string, options: GetOptions): Promise<GetResult | undefined> {
    for (;;) {
      const { results, taken } = await this.take([queue], 1, options);
      if (results.length > 0 || taken === 0) return results[0];
    }
  }

  async getMany(queues: readonly string[], max: number, options: GetOptions): Promise<GetResult[]> {
    return (await this.take(queues, max, options)).results;
  }

  /**
   * Up to `max` messages over `queues`: the lengths of every queue's lists, one pipeline per
   * master (all masters at once), then `max` shared out one message at a time over the non-empty
   * queues in the given order, and one pop-and-record per queue on its master. A single queue
   * skips the lengths.
   */
  private async take(queues: readonly string[], max: number, options: GetOptions): Promise<{ results: GetResult[]; taken: number }> {
    // A pop that failed beside others that succeeded: its error is reported now, before anything
    // more is popped, and the others' messages went out with the take before.
    const failed = this.failedPop;
    if (failed !== undefined) {
      this.failedPop = undefined;
      throw failed.error;
    }
    if (max <= 0 || queues.length === 0) return { results: [], taken: 0 };
    // One queue needs no share-out: its pop takes up to `max` itself (one round trip, not two).
    const limits = queues.length === 1 ? new Map([[queues[0] as string, max]]) : await this.shareRoom(queues, max);
    const record = !options.noAck;
    // Settled, not Promise.all: a pop that ran on one master took its messages (and recorded them)
    // whatever another master answered, so they are handed out even when a sibling pop failed.
    const settled = await Promise.allSettled(
      [...limits].map(async ([queue, limit]) => ({ queue, entries: await this.popQueue(queue, limit, record, options) })),
    );
    const results: GetResult[] = [];
    let taken = 0;
    let firstError: { error: unknown } | undefined;
    for (const outcome of settled) {
      if (outcome.status === 'rejected') {
        firstError ??= { error: outcome.reason };
        continue;
      }
      const { queue, entries } = outcome.value;
      taken += entries.length;
      for (const entry of entries) {
        if (entry.kind === 'dead') {
          this.ctx.reportDeadLettered({ queue, reason: entry.reason });
          continue;
        }
        if (entry.kind === 'expired') {
          options.expiry?.report({ queue, deadLettered: entry.deadLettered });
          continue;
        }
        if (record) this.unacked.remember(entry.deliveryTag, queue);
        results.push({ queue, payload: entry.payload, deliveryTag: entry.deliveryTag });
      }
    }
    const checked = record ? await this.keepText(results) : results;
    if (firstError !== undefined) {
      if (checked.length === 0 && taken === 0) throw firstError.error;
      this.failedPop = firstError;
    }
    return { results: checked, taken };
  }

  /**
   * The results whose stored bytes are text (storedAsText), checked together. A check that fails
   * keeps its message: it is popped and recorded, and holding it back would strand it until the
   * visibility timeout; the error is reported at the next take.
   */
  private async keepText(results: readonly GetResult[]): Promise<GetResult[]> {
    const checks = await Promise.allSettled(
      results.map((result) => this.storedAsText(result.queue, result.payload, result.deliveryTag as string)),
    );
    const kept: GetResult[] = [];
    checks.forEach((check, i) => {
      if (check.status === 'rejected') this.failedPop ??= { error: check.reason };
      if (check.status === 'rejected' || check.value) kept.push(results[i] as GetResult);
    });
    return kept;
  }

  /** The lengths of every queue's lists, one pipeline per master (all at once), shared out by {@link shareOut}. */
  private async shareRoom(queues: readonly string[], max: number): Promise<Map<string, number>> {
    const groups = await this.ctx.pool.group(queues, (queue) => this.keys.queueSlot(queue));
    const lengths = new Map<string, number>();
    await Promise.all(
      [...groups].map(async ([client, group]) => {
        const pipeline = client.pipeline();
        for (const queue of group) for (const key of this.keys.queueKeys(queue)) pipeline.llen(key);
        const replies = (await pipeline.exec()) ?? [];
        const steps = this.keys.steps.length;
        group.forEach((queue, i) => {
          let sum = 0;
          for (let s = 0; s < steps; s++) {
            const [error, value] = replies[i * steps + s] ?? [null, 0];
            if (error) throw this.follow(error);
            sum += Number(value);
          }
          lengths.set(queue, sum);
        });
      }),
    );
    return shareOut(queues, lengths, max);
  }

  /** Pop-and-record on one queue's lists and its own unacked keys, on its master. */
  private async popQueue(queue: string, limit: number, record: boolean, options: GetOptions): Promise<PoppedEntry[]> {
    const { keys } = this;
    const own = keys.unackedKeys(queue);
    const dead = keys.deadLetterKey(queue);
    const pairs = keys.queueKeys(queue).map((key) => [key, dead] as const);
    const { expiry } = options;
    const args = popAndRecordArgs(
      { unacked: own.unacked, unackedIndex: own.unackedIndex, queues: pairs, expiredDropped: keys.droppedKeyOf(queue, EXPIRED_REASON) },
      {
        now: this.ctx.wallClock(),
        limit,
        record,
        deadLetterFlags: expiredDeadLetterFlags(pairs, expiry && (() => expiry.deadLetters(queue))),
      },
    );
    // Resent once on MOVED (the pop did not run there), never on a lost reply (it may have run).
    return parsePopReply(await this.ctx.pool.onSlot(keys.queueSlot(queue), (client) => call(client, 'popAndRecord', args)));
  }

  /** A MOVED reply points the pool at the slot's new master; the error goes on to the caller (not resent). */
  private follow(error: unknown): unknown {
    this.ctx.pool.followRedirect(error);
    return error;
  }

  /** As RedisStorage.storedAsText, on the queue's own unacked hash. */
  private async storedAsText(queue: string, payload: string, tag: string): Promise<boolean> {
    if (!mayNotBeStoredBytes(payload)) return true;
    const stored = await (await this.clientOf(queue)).hgetBuffer(this.keys.unackedKeys(queue).unacked, tag);
    if (stored === null) return false;
    if (isUtf8(stored)) return true;
    const reason = 'payload is not valid UTF-8';
    await moveTakenAside(this, { queue, payload, reason, tag });
    this.ctx.reportDeadLettered({ queue, reason });
    return false;
  }

  /** Empties the queue's lists and its delayed set (counted with them) and drops its delayed index, in its slot. */
  async purge(queue: string): Promise<number> {
    const { keys } = this;
    const multi = (await this.clientOf(queue)).multi();
    for (const key of keys.queueKeys(queue)) multi.llen(key).del(key);
    const delayed = keys.delayedKey(queue);
    multi.zcard(delayed).del(delayed).del(keys.delayedIndexOf(queue));
    const results = (await multi.exec()) ?? [];
    let removed = 0;
    // Pairs of (count, DEL) per list and for the delayed set; the trailing DEL is not a count.
    for (let i = 0; i + 1 < results.length; i += 2) removed += Number(results[i]?.[1] ?? 0);
    return removed;
  }

  async size(queue: string): Promise<number> {
    const multi = (await this.clientOf(queue)).multi();
    for (const key of this.keys.queueKeys(queue)) multi.llen(key);
    const results = (await multi.exec()) ?? [];
    return results.reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  /** Every key of the queue but its unacked records and dead letters (as on redis://), delayed ones included, in one slot. */
  async deleteQueue(queue: string): Promise<void> {
    const { keys } = this;
    await (await this.clientOf(queue)).del(
      ...keys.queueKeys(queue),
      keys.queueArgumentsKey(queue),
      keys.delayedKey(queue),
      keys.delayedIndexOf(queue),
      keys.droppedKeyOf(queue, EXPIRED_REASON),
      keys.droppedKeyOf(queue, MAXLEN_REASON),
    );
  }

  async hasQueue(queue: string): Promise<boolean> {
    return (await (await this.clientOf(queue)).exists(...this.keys.queueKeys(queue))) > 0;
  }

  /**
   * Checks the name fits the layout (no brace), writes the arguments the scripts apply
   * (queue-argument-fields.ts) to the queue's argument hash in its slot, as on redis://, and
   * touches the queue (a declaration is use of it, x-expires).
   */
  async newQueue(queue: string, options: QueueDeclareOptions): Promise<void> {
    this.keys.shardName(queue);
    if (options.arguments !== undefined && Object.keys(options.arguments).length > 0) {
      const fields = queueArgumentFields(options.arguments);
      this.queueExpiry.forget(queue);
      const key = this.keys.queueArgumentsKey(queue);
      const multi = (await this.clientOf(queue)).multi().del(key);
      if (Object.keys(fields).length > 0) multi.hset(key, fields);
      await multi.exec();
    }
    await this.queueExpiry.touch([queue]);
  }

  async countDropped(queue: string, reason: string): Promise<void> {
    await (await this.clientOf(queue)).hincrby(this.keys.droppedKeyOf(queue, reason), this.keys.deadLetterKey(queue), 1);
  }

  async deadLetter(queue: string, rawPayload: string, reason: string): Promise<void> {
    const record = deadLetterRecord({ reason, queue, payload: rawPayload, time: this.ctx.wallClock() });
    await (await this.clientOf(queue)).lpush(this.keys.deadLetterKey(queue), record);
  }

  // ---- bindings (one set per exchange, on the master of its own key) ---------------------------

  async getTable(exchange: string): Promise<BindingRow[]> {
    const key = this.keys.bindingKey(exchange);
    const rows: BindingRow[] = [];
    for (const member of await (await this.ctx.pool.forKey(key)).smembers(key)) {
      const row = this.keys.parseBindingMember(member);
      if (row) rows.push(row);
    }
    return rows;
  }

  async addBinding(exchange: string, row: BindingRow): Promise<void> {
    const key = this.keys.bindingKey(exchange);
    await (await this.ctx.pool.forKey(key)).sadd(key, this.keys.bindingMember(row));
  }

  async removeBinding(exchange: string, row: BindingRow): Promise<void> {
    const key = this.keys.bindingKey(exchange);
    await (await this.ctx.pool.forKey(key)).srem(key, this.keys.bindingMember(row));
  }
}

/**
 * The expiry touch of the sharded layout: the queues grouped by slot (each queue's keys are in
 * its own), one touch-queues call per slot on its master, all at once, so no call names keys of
 * two slots. The script declares no keys, so a slot that moved answers "non local key", not
 * MOVED: the touch fails (the transport reloads the slot map on that reply) and the queue's next
 * use, or a consumer's next periodic touch, reaches the new master.
 */
function touchPerSlot(pool: ClusterNodePool, keys: RedisKeys): TouchQueues {
  return async (queues) => {
    const bySlot = new Map<number, string[]>();
    for (const queue of queues) {
      const slot = keys.queueSlot(queue);
      const group = bySlot.get(slot);
      if (group) group.push(queue);
      else bySlot.set(slot, [queue]);
    }
    const answers = new Map<string, unknown>();
    await Promise.all(
      [...bySlot].map(async ([slot, group]) => {
        const reply = await call(await pool.forSlot(slot), 'touchQueues', touchQueuesArgs(keys, group));
        const expires = Array.isArray(reply) ? (reply as unknown[]) : [];
        group.forEach((queue, i) => answers.set(queue, expires[i]));
      }),
    );
    return queues.map((queue) => answers.get(queue) ?? 0);
  };
}

/**
 * `max` shared out over the non-empty queues one message at a time in the given order (the
 * channel's fair cycle), never more than a queue holds: queue -> how many to pop there.
 */
export function shareOut(queues: readonly string[], lengths: ReadonlyMap<string, number>, max: number): Map<string, number> {
  const left = new Map<string, number>();
  for (const queue of queues) {
    const length = lengths.get(queue) ?? 0;
    if (length > 0 && !left.has(queue)) left.set(queue, length);
  }
  const limits = new Map<string, number>();
  let room = max;
  while (room > 0 && left.size > 0) {
    for (const [queue, length] of left) {
      if (room === 0) break;
      limits.set(queue, (limits.get(queue) ?? 0) + 1);
      room--;
      if (length === 1) left.delete(queue);
      else left.set(queue, length - 1);
    }
  }
  return limits;
}
