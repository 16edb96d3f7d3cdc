/**
 * `transport.admin` in the sharded cluster layout (`kelp inspect`, `kelp restore`,
 * `kelp dead-letters`): every read and restore visits every master, each queue's keys read on
 * its own master (inspectEveryShard, restoreEveryShard); delayed messages are counted, and moved
 * by a restore, per queue on its master (ShardedDelayed). Requeueing dead letters and the
 * dashboard's repairs act on one queue at a time, on its master (sharded-admin-repair.ts);
 * moving messages between two queues is refused by name.
 */
import {
  ConfigurationError,
  throwIfAborted,
  type DeadLetterEntry,
  type InspectExchange,
  type InspectQueue,
  type InspectReport,
  type MessagePage,
  type MessagePageOptions,
  type RestoreOptions,
  type RestoreReport,
  type TransportAdmin,
  type TransportAdminRepair,
  type UnackedPage,
} from '@kelp/core';
import { deadLetterId, EXPIRED_REASON, impliedExchangeType, MAXLEN_REASON, restoreReport, VirtualAdmin, type BindingRow } from '@kelp/virtual';
import type { Buffer } from 'node:buffer';
import type { ClusterNodePool } from './cluster-node-pool.js';
import { readDeadLetterRecord } from './dead-letters.js';
import type { RedisKeys } from './keys.js';
import type { RedisTransportOptions } from './options.js';
import { globEscape, scanKeys } from './scan-keys.js';
import { ShardedDelayed } from './sharded-delayed.js';
import { inspectEveryShard } from './sharded-inspect.js';
import { shardedQueueHooks, ShardedUnackedRepair } from './sharded-admin-repair.js';
import { shardedUnsupported } from './sharded-refusals.js';
import { restoreEveryShard } from './sharded-restore.js';

/** How long a restore waits for a busy unacked_mutex before each batch (as on redis://). */
const LOCK_WAIT_MS = 30_000;

export interface ShardedAdminContext {
  /** The transport's node pool (connecting first when needed). */
  pool(): Promise<ClusterNodePool>;
  readonly keys: RedisKeys;
  /** The broker URL without its password, for error messages. */
  readonly redactedUrl: string;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds. */
  readonly wallClock: () => number;
}

export class ShardedAdmin implements TransportAdmin, TransportAdminRepair {
  /** The per-queue repairs, written once for every transport, over hooks that reach the queue's master. */
  private readonly perQueue: VirtualAdmin<Buffer>;
  private readonly unackedRepair: ShardedUnackedRepair;

  constructor(private readonly ctx: ShardedAdminContext) {
    this.perQueue = new VirtualAdmin(shardedQueueHooks(ctx));
    this.unackedRepair = new ShardedUnackedRepair(ctx);
  }

  async inspect(options: { signal?: AbortSignal } = {}): Promise<InspectReport> {
    const { keys } = this.ctx;
    const pool = await this.ctx.pool();
    const exchanges = await this.exchanges(pool, options.signal);
    const rows = await inspectEveryShard(pool, keys, options.signal);
    const byName = new Map(rows.map((row) => [row.queue, row]));
    const delayed = this.delayedOf(pool);
    // A declared queue with no message has no key: it is known from its bindings, or its drop
    // counts; one whose messages are all still delayed, from its delayed index.
    const names = new Set([
      ...byName.keys(),
      ...exchanges.flatMap((exchange) => exchange.bindings.map((binding) => binding.queue)),
      ...(await this.queuesWithDrops(pool, options.signal)),
      ...(await delayed.delayedQueues(options.signal)),
    ]);
    const queues: InspectQueue[] = [];
    let unackedTotal = 0;
    const now = this.ctx.wallClock();
    for (const name of [...names].sort()) {
      throwIfAborted(options.signal);
      // A binding naming a queue this layout cannot hold (a brace) has no keys to read.
      if (name === '' || /[{}]/.test(name)) continue;
      const row = byName.get(name);
      const extra = await this.queueExtras(pool, name);
      const waiting = await delayed.depth(name);
      const priorityLengths: Record<string, number> = {};
      for (const [step, n] of row?.steps ?? []) if (n > 0) priorityLengths[String(step)] = n;
      unackedTotal += row?.unacked ?? 0;
      queues.push({
        name,
        length: row?.waiting ?? 0,
        priorityLengths,
        unacked: row?.unacked ?? 0,
        oldestUnackedAge: extra.oldest === undefined ? null : Math.max(0, now - extra.oldest),
        deadLetters: row?.deadLetters ?? 0,
        ...(Object.keys(extra.dropped).length > 0 ? { dropped: extra.dropped } : {}),
        ...(waiting.delayed > 0 ? { delayed: waiting.delayed } : {}),
        ...(waiting.delayed > 0 && waiting.nextDueAt !== undefined ? { nextDueAt: waiting.nextDueAt / 1000 } : {}),
      });
    }
    return { exchanges, queues, unackedTotal, visibilityTimeout: this.ctx.options.visibilityTimeout };
  }

  /**
   * Restores, on every master, the records older than `olderThan` to the queue each was popped
   * from, then moves the delayed messages already due (they wait only for a mover; a restore is
   * one), as on redis://.
   */
  async restore(options: RestoreOptions = {}): Promise<RestoreReport> {
    throwIfAborted(options.signal);
    const olderThan = options.olderThan ?? this.ctx.options.visibilityTimeout;
    if (!Number.isFinite(olderThan) || olderThan < 0) {
      throw new ConfigurationError(`restore: olderThan is a number of seconds >= 0, not ${String(olderThan)}`, { option: 'olderThan' });
    }
    const dryRun = options.dryRun === true;
    const pool = await this.ctx.pool();
    const { items } = await restoreEveryShard(pool, this.ctx.keys, {
      ceiling: this.ctx.wallClock() - olderThan,
      dryRun,
      target: this.ctx.options.restoreTarget,
      lock: { expireMs: Math.round(this.ctx.options.unackedMutexExpire * 1000), waitMs: LOCK_WAIT_MS },
      wallClock: this.ctx.wallClock,
      ...(options.queue === undefined ? {} : { queue: options.queue }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const report = restoreReport(dryRun, olderThan, items);
    const delayed = this.delayedOf(pool);
    const nowMs = this.ctx.wallClock() * 1000;
    const due = dryRun ? await delayed.countDue(nowMs, options.signal) : await delayed.moveAllDue(nowMs, options.signal);
    return due > 0 ? { ...report, delayedMoved: due } : report;
  }

  /** The delayed sets and indexes over `pool` (stateless for what admin asks of it). */
  private delayedOf(pool: ClusterNodePool): ShardedDelayed {
    return new ShardedDelayed({ pool, keys: this.ctx.keys, redactedUrl: this.ctx.redactedUrl });
  }

  /** The dead letters of `queue`, oldest first, read on its master. */
  async deadLetters(queue: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<DeadLetterEntry[]> {
    throwIfAborted(options.signal);
    const { keys } = this.ctx;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    // LPUSHed: the oldest records are at the tail.
    const start = Number.isFinite(limit) ? -Math.max(1, Math.floor(limit)) : 0;
    const client = await (await this.ctx.pool()).forSlot(keys.queueSlot(queue));
    const records = await client.lrangeBuffer(keys.deadLetterKey(queue), start, -1);
    return records.reverse().map((record) => {
      const entry = readDeadLetterRecord(record, queue, keys);
      return { ...entry, id: deadLetterId(entry) };
    });
  }

  /** Puts the dead letters of `queue` that are valid envelopes back at its back, each moved atomically on its master. */
  requeueDeadLetters(queue: string, options?: { limit?: number; signal?: AbortSignal }): Promise<{ requeued: number; skipped: number }> {
    return this.perQueue.requeueDeadLetters(queue, options);
  }

  messages(queue: string, options?: MessagePageOptions): Promise<MessagePage> {
    return this.perQueue.messages(queue, options);
  }

  unacked(options?: { queue?: string; offset?: number; limit?: number; signal?: AbortSignal }): Promise<UnackedPage> {
    return this.unackedRepair.unacked(options);
  }

  deleteMessage(queue: string, id: string, options?: { step?: number; scanLimit?: number; signal?: AbortSignal }): Promise<{ deleted: boolean }> {
    return this.perQueue.deleteMessage(queue, id, options);
  }

  /** Refused: the two queues are in two slots, and no script can move a message between them atomically. */
  moveMessages(): Promise<{ moved: number }> {
    return Promise.reject(shardedUnsupported('moving messages between queues (admin.moveMessages)'));
  }

  purge(queue: string, options?: { signal?: AbortSignal }): Promise<{ purged: number }> {
    return this.perQueue.purge(queue, options);
  }

  restoreMessage(tag: string, options?: { signal?: AbortSignal }): Promise<{ restored: boolean; queues: string[]; deadLettered: boolean }> {
    return this.unackedRepair.restoreMessage(tag, options);
  }

  requeueDeadLetter(queue: string, id: string, options?: { signal?: AbortSignal }): Promise<{ requeued: boolean; reason?: string }> {
    return this.perQueue.requeueDeadLetter(queue, id, options);
  }

  deleteDeadLetter(queue: string, id: string, options?: { signal?: AbortSignal }): Promise<{ deleted: boolean }> {
    return this.perQueue.deleteDeadLetter(queue, id, options);
  }

  /** Every binding set on every master, with its rows. */
  private async exchanges(pool: ClusterNodePool, signal?: AbortSignal): Promise<InspectExchange[]> {
    const prefix = this.ctx.keys.bindingKey('');
    const out: InspectExchange[] = [];
    for (const client of await pool.everyMaster()) {
      for (const key of await scanKeys(client, `${globEscape(prefix)}*`, signal)) {
        const rows: BindingRow[] = [];
        for (const member of await client.smembers(key)) {
          const row = this.ctx.keys.parseBindingMember(member);
          if (row) rows.push(row);
        }
        out.push({
          name: key.slice(prefix.length),
          // Redis stores no exchange types: only a pattern tells one (a plain key may be direct or fanout).
          type: impliedExchangeType(rows) === 'topic' ? 'topic' : 'unknown',
          bindings: rows.map((row) => ({ queue: row.queue, routingKey: row.routingKey, ...(row.pattern ? { pattern: row.pattern } : {}) })),
        });
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Queues with a drop-count hash (`_kelp.dropped.<reason>.{<q>}`) on any master. */
  private async queuesWithDrops(pool: ClusterNodePool, signal?: AbortSignal): Promise<string[]> {
    const { keys } = this.ctx;
    const found: string[] = [];
    for (const client of await pool.everyMaster()) {
      for (const reason of [EXPIRED_REASON, MAXLEN_REASON]) {
        const base = `${keys.droppedKey(reason)}.`;
        for (const key of await scanKeys(client, `${globEscape(base)}{*}`, signal)) {
          const queue = key.slice(base.length + 1, -1);
          // Only a key this layout built (the glob's `*` may match a brace).
          if (!/[{}]/.test(queue) && queue !== '' && keys.droppedKeyOf(queue, reason) === key) found.push(queue);
        }
      }
    }
    return found;
  }

  /** The oldest unacked delivery time and the drop counts of one queue, on its master. */
  private async queueExtras(pool: ClusterNodePool, queue: string): Promise<{ oldest: number | undefined; dropped: Record<string, number> }> {
    const { keys } = this.ctx;
    const client = await pool.forSlot(keys.queueSlot(queue));
    const field = keys.deadLetterKey(queue);
    const [oldest, expired, maxlen] = await Promise.all([
      client.zrange(keys.unackedKeys(queue).unackedIndex, 0, 0, 'WITHSCORES'),
      client.hget(keys.droppedKeyOf(queue, EXPIRED_REASON), field),
      client.hget(keys.droppedKeyOf(queue, MAXLEN_REASON), field),
    ]);
    const dropped: Record<string, number> = {};
    if (Number(expired) > 0) dropped[EXPIRED_REASON] = Number(expired);
    if (Number(maxlen) > 0) dropped[MAXLEN_REASON] = Number(maxlen);
    return { oldest: oldest[1] === undefined ? undefined : Number(oldest[1]), dropped };
  }
}
