/**
 * `ShardedDelayed`: delayed delivery (`countdown` / `eta`) in the sharded cluster layout
 * (docs/redis-cluster.md#delayed-delivery). Every key of a queue's delayed delivery is in the
 * queue's slot: its delayed set `_kelp.delayed.{<q>}` and its own delayed index
 * `_kelp.delayed_index.{<q>}`, which names `{<q>}` scored by the set's earliest due time while the
 * set has members. So the flat layout's two scripts run unchanged in meaning, each on one queue
 * on its master: a delayed publish is one `delay` call per queue (delay-n.lua), a move one
 * `moveDue` call per queue (move-due-0.lua, told the layout), and neither names a key of another
 * slot.
 *
 * A mover learns the queues three ways: those this process stored delayed messages for; once a
 * sweep interval, the index key of each queue this process consumes (one read per queue, so a
 * message another process delayed for a consumed queue moves as promptly as on redis://); and,
 * at most once a scan interval (30 s), a SCAN of every master for the per-queue index keys,
 * which finds the queues nobody here consumes. A SCAN walks every key of a master, so it is kept
 * rare: a queue no process consumes waits for it, and no consumer waits on that queue. The mover
 * keeps what it learned with the earliest due times, so the calls in between (woken by a due
 * time) visit only queues that are due. The keys move with their slots on a resharding or a
 * failover, and the reads and the scan go to whichever masters serve the slots then, so nothing
 * depends on which master held what.
 */
import { throwIfAborted } from '@kelp/core';
import { DELAYED_MOVE_BATCH, DELAYED_SWEEP_INTERVAL_MS, type DelayedDelivery } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { ClusterNodePool } from './cluster-node-pool.js';
import { wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import { moveDueArgs, parseMoveDueReply } from './redis-delayed.js';
import { globEscape, scanKeys } from './scan-keys.js';
import { call } from './scripts.js';

export interface ShardedDelayedContext {
  readonly pool: ClusterNodePool;
  readonly keys: RedisKeys;
  /** The broker URL without its password, for error messages. */
  readonly redactedUrl: string;
  /** Least time between two scans of the masters for delayed queues (default DELAYED_SCAN_INTERVAL_MS). */
  readonly scanIntervalMs?: number;
  /** The queues this process consumes now, whose index keys are read every sweep interval. */
  readonly consumedQueues?: () => readonly string[];
  /** Where a move's failure goes when the call moved other queues too (else moveDue throws it). */
  readonly reportError?: (error: unknown) => void;
}

/** Default least time between two SCANs of the masters for queues with delayed messages. */
export const DELAYED_SCAN_INTERVAL_MS = 30_000;

/** Sends a command to the master of `slot`. */
type SlotSender = (slot: number, send: (client: Redis) => Promise<unknown>) => Promise<unknown>;

/** One queue's delayed messages: how many, and the earliest due time (epoch ms). */
export interface DelayedDepth {
  delayed: number;
  nextDueAt: number | undefined;
}

export class ShardedDelayed implements DelayedDelivery {
  /**
   * Queues known to hold delayed messages -> their earliest due time (epoch ms); -Infinity for a
   * queue found by a scan, whose due time the next move call learns.
   */
  private readonly known = new Map<string, number>();
  /**
   * Queue -> the earliest due time this process stored in it while a move of it was in flight
   * (+Infinity for none yet): that move may have run before the store, so its answer alone
   * would forget the queue or name a later time.
   */
  private readonly storedDuringMove = new Map<string, number>();
  private lastScanAt = Number.NEGATIVE_INFINITY;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  private readonly keys: RedisKeys;

  constructor(private readonly ctx: ShardedDelayedContext) {
    this.keys = ctx.keys;
  }

  /** One `delay` call per queue, on its master, all at once; each queue's store is atomic on its own. */
  putDelayed(queues: readonly string[], envelopeJson: string, priority: number, dueAtMs: number): Promise<void> {
    return this.store(queues, envelopeJson, priority, dueAtMs, (slot, send) => this.ctx.pool.onSlot(slot, send));
  }

  /**
   * The same delayed delivery with its stores written through `forSlot`'s connections (a
   * confirmed publish's own, whose WAIT must count them: sharded-confirm.ts). A store that meets
   * `MOVED` there fails the publish, as a confirmed push does; the mover stays this one.
   */
  through(forSlot: (slot: number) => Promise<Redis>): DelayedDelivery {
    return {
      putDelayed: (queues, envelopeJson, priority, dueAtMs) =>
        this.store(queues, envelopeJson, priority, dueAtMs, async (slot, send) => send(await forSlot(slot))),
      moveDue: (nowMs, max) => this.moveDue(nowMs, max),
    };
  }

  private async store(queues: readonly string[], envelopeJson: string, priority: number, dueAtMs: number, onSlot: SlotSender): Promise<void> {
    const { keys } = this;
    const due = Math.trunc(dueAtMs);
    const member = keys.delayedMember(envelopeJson, priority);
    const targets = [...new Set(queues)];
    const settled = await Promise.allSettled(
      targets.map((queue) =>
        onSlot(keys.queueSlot(queue), (client) =>
          call(client, 'delay', [3, keys.delayedIndexOf(queue), keys.delayedKey(queue), keys.queueArgumentsKey(queue), String(due), member, keys.shardName(queue)]),
        ),
      ),
    );
    let failure: { error: unknown } | undefined;
    settled.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') this.noteDue(targets[i] as string, due);
      else failure ??= { error: outcome.reason };
    });
    if (failure !== undefined) throw wrapRedisError(failure.error, this.ctx.redactedUrl, 'delayed publish');
  }

  /**
   * Moves up to `max` due messages: reads the consumed queues' index keys when the last read is a
   * sweep interval old and scans the masters when the last scan is a scan interval old, then
   * moves each due queue (earliest first) with one script call on its master. A queue that fails
   * keeps its place for the next call; the first failure goes to the context's reportError (or is
   * thrown, without one) once every other due queue had its turn.
   */
  async moveDue(nowMs: number, max: number): Promise<{ moved: number; nextDueAt: number | undefined }> {
    let failure: { error: unknown } | undefined;
    if (nowMs - this.lastScanAt >= (this.ctx.scanIntervalMs ?? DELAYED_SCAN_INTERVAL_MS)) {
      this.lastScanAt = this.lastProbeAt = nowMs;
      try {
        // Every queue found is visited by this call: a known one may hold an earlier message
        // another process stored since; the move's reply tells its next due time.
        for (const queue of await this.delayedQueues()) this.known.set(queue, Number.NEGATIVE_INFINITY);
      } catch (error) {
        failure = { error };
      }
    } else if (nowMs - this.lastProbeAt >= DELAYED_SWEEP_INTERVAL_MS) {
      this.lastProbeAt = nowMs;
      const error = await this.probeConsumed();
      if (error !== undefined) failure = { error };
    }
    let moved = 0;
    const due = [...this.known].filter(([, at]) => at <= nowMs).sort((a, b) => a[1] - b[1]);
    for (const [queue] of due) {
      if (moved >= max) break;
      this.storedDuringMove.set(queue, Number.POSITIVE_INFINITY);
      try {
        const result = await this.moveQueue(queue, nowMs, max - moved);
        moved += result.moved;
        this.settle(queue, result.nextDueAt);
      } catch (error) {
        // The queue stays known, tried again a sweep interval later (not at once: a queue that
        // keeps failing must not spin the mover), or sooner if this process stored in it meanwhile.
        const storedMeanwhile = this.storedDuringMove.get(queue) ?? Number.POSITIVE_INFINITY;
        this.storedDuringMove.delete(queue);
        this.known.set(queue, Math.min(storedMeanwhile, Math.max(this.known.get(queue) ?? Number.NEGATIVE_INFINITY, nowMs + DELAYED_SWEEP_INTERVAL_MS)));
        failure ??= { error };
      }
    }
    if (failure !== undefined) {
      const error = wrapRedisError(failure.error, this.ctx.redactedUrl, 'delayed move');
      // With a reporter, what the other queues moved still counts (the mover polls them and
      // plans its next call); without one, the caller gets the error.
      if (this.ctx.reportError === undefined) throw error;
      this.ctx.reportError(error);
    }
    let nextDueAt: number | undefined;
    for (const at of this.known.values()) if (nextDueAt === undefined || at < nextDueAt) nextDueAt = at;
    return { moved, nextDueAt };
  }

  /**
   * Reads the index key of each consumed queue on its master, known or not: another process may
   * have stored a message due earlier than any this one knows of. A queue whose key names an
   * earlier due time is known by that time from now on. Resolves with the first failure (the
   * other queues are still read).
   */
  private async probeConsumed(): Promise<unknown> {
    const { keys } = this;
    const queues = [...new Set(this.ctx.consumedQueues?.() ?? [])];
    const read = await Promise.allSettled(
      // async: a name the layout refuses (queueSlot throws) fails its own read, not the others'.
      queues.map(async (queue) => this.ctx.pool.onSlot(keys.queueSlot(queue), (client) => client.zscore(keys.delayedIndexOf(queue), keys.shardName(queue)))),
    );
    let failure: unknown;
    read.forEach((outcome, i) => {
      if (outcome.status === 'rejected') failure ??= outcome.reason;
      else if (outcome.value !== null) this.noteDue(queues[i] as string, Number(outcome.value));
    });
    return failure;
  }

  /** Every queue with a delayed index key on any master (SCAN of each master serving a slot). */
  async delayedQueues(signal?: AbortSignal): Promise<string[]> {
    const { keys } = this;
    const base = `${keys.delayedIndex}.`;
    const found: string[] = [];
    for (const client of await this.ctx.pool.everyMaster()) {
      for (const key of await scanKeys(client, `${globEscape(base)}{*}`, signal, 'zset')) {
        const queue = key.slice(base.length + 1, -1);
        // Only a key this layout built (the glob's `*` may match a brace).
        if (queue !== '' && !/[{}]/.test(queue) && keys.delayedIndexOf(queue) === key) found.push(queue);
      }
    }
    return found;
  }

  /** How many delayed messages `queue` has and the earliest due time (epoch ms), read on its master. */
  async depth(queue: string): Promise<DelayedDepth> {
    const key = this.keys.delayedKey(queue);
    const client = await this.ctx.pool.forSlot(this.keys.queueSlot(queue));
    const [count, head] = await Promise.all([client.zcard(key), client.zrange(key, 0, 0, 'WITHSCORES')]);
    return { delayed: count, nextDueAt: head[1] === undefined ? undefined : Number(head[1]) };
  }

  /** How many delayed messages are due at `nowMs` over every queue (what a move would move). */
  async countDue(nowMs: number, signal?: AbortSignal): Promise<number> {
    let due = 0;
    for (const queue of await this.delayedQueues(signal)) {
      throwIfAborted(signal);
      const client = await this.ctx.pool.forSlot(this.keys.queueSlot(queue));
      due += await client.zcount(this.keys.delayedKey(queue), '-inf', nowMs);
    }
    return due;
  }

  /** Moves every message due at `nowMs` over every queue (kelp restore); resolves with how many. */
  async moveAllDue(nowMs: number, signal?: AbortSignal): Promise<number> {
    let total = 0;
    for (const queue of await this.delayedQueues(signal)) {
      for (;;) {
        throwIfAborted(signal);
        const { moved } = await this.moveQueue(queue, nowMs, DELAYED_MOVE_BATCH).catch((error: unknown) => {
          throw wrapRedisError(error, this.ctx.redactedUrl, 'delayed move');
        });
        total += moved;
        if (moved < DELAYED_MOVE_BATCH) break;
      }
    }
    return total;
  }

  /** One move-due call on `queue`'s own index, on its master (resent once on MOVED: it did not run). */
  private async moveQueue(queue: string, nowMs: number, max: number): Promise<{ moved: number; nextDueAt: number | undefined }> {
    const { keys } = this;
    const set = keys.delayedKey(queue);
    // The delayed sets' prefix: the script appends the name the index gives, `{<q>}`.
    const args = moveDueArgs(keys, keys.delayedIndexOf(queue), set.slice(0, set.length - keys.shardName(queue).length), nowMs, max, true);
    return parseMoveDueReply(await this.ctx.pool.onSlot(keys.queueSlot(queue), (client) => call(client, 'moveDue', args)));
  }

  /** A message due at `dueAtMs` was stored in `queue`'s set: the queue is due by then at the latest. */
  private noteDue(queue: string, dueAtMs: number): void {
    const known = this.known.get(queue);
    if (known === undefined || dueAtMs < known) this.known.set(queue, dueAtMs);
    const during = this.storedDuringMove.get(queue);
    if (during !== undefined && dueAtMs < during) this.storedDuringMove.set(queue, dueAtMs);
  }

  /** After a move of `queue`: its next due time, with what this process stored meanwhile, or forgotten when none. */
  private settle(queue: string, nextDueAt: number | undefined): void {
    const next = Math.min(nextDueAt ?? Number.POSITIVE_INFINITY, this.storedDuringMove.get(queue) ?? Number.POSITIVE_INFINITY);
    this.storedDuringMove.delete(queue);
    if (next === Number.POSITIVE_INFINITY) this.known.delete(queue);
    else this.known.set(queue, next);
  }
}
