/**
 * `transport.admin` written once (`kelp inspect`, `kelp restore`, `kelp dead-letters`): the
 * inspect rows, the restore report and the dead-letter requeue over a transport's
 * {@link AdminStorage} hooks.
 */
import type {
  DeadLetterEntry,
  MessagePage,
  MessagePageOptions,
  TransportAdminRepair,
  UnackedPage,
  InspectExchange,
  InspectQueue,
  InspectReport,
  RestoreOptions,
  RestoreReport,
  TransportAdmin,
} from '@kelp/core';
import { ConfigurationError, throwIfAborted } from '@kelp/core';
import type { BindingRow } from '../exchange.js';
import type { AdminStorage, RestoredMessage } from './admin-storage.js';
import { AdminRepair, deadLetterId } from './admin-repair.js';
import { AdminRouter, impliedExchangeType } from './admin-routing.js';
import { requeueableEnvelope } from './requeue.js';

interface UnackedStats {
  count: number;
  oldest: number | undefined;
}

export class VirtualAdmin<Handle = unknown> implements TransportAdmin, TransportAdminRepair {
  readonly #repair: AdminRepair<Handle>;

  constructor(private readonly storage: AdminStorage<Handle>) {
    this.#repair = new AdminRepair(storage);
  }

  async inspect(options: { signal?: AbortSignal } = {}): Promise<InspectReport> {
    const { storage } = this;
    const { signal } = options;
    throwIfAborted(signal);
    const queueNames = new Set<string>();
    const exchanges: InspectExchange[] = [];
    for (const name of [...(await storage.exchangeNames(signal))].sort()) {
      const rows = await storage.bindings(name);
      for (const row of rows) queueNames.add(row.queue);
      exchanges.push(this.exchangeRow(name, rows));
    }
    const unacked = await this.unackedByQueue(signal);
    for (const queue of unacked.keys()) queueNames.add(queue);
    for (const queue of await storage.queueNames(signal)) queueNames.add(queue);
    const now = storage.now();
    const queues: InspectQueue[] = [];
    for (const name of [...queueNames].sort()) {
      throwIfAborted(signal);
      const depth = await storage.queueDepth(name);
      const priorityLengths: Record<string, number> = {};
      let length = 0;
      for (const [step, n] of depth.steps) {
        length += n;
        if (n > 0) priorityLengths[String(step)] = n;
      }
      const stats = unacked.get(name);
      queues.push({
        name,
        length,
        priorityLengths,
        unacked: stats?.count ?? 0,
        // An ETA message is stamped with its due time, possibly in the future: its age is 0 until then.
        oldestUnackedAge: stats?.oldest === undefined ? null : Math.max(0, now - stats.oldest),
        deadLetters: depth.deadLetters,
        ...(depth.dropped && Object.keys(depth.dropped).length > 0 ? { dropped: { ...depth.dropped } } : {}),
        ...(depth.delayed ? { delayed: depth.delayed } : {}),
        ...(depth.delayed && depth.nextDueAt !== undefined ? { nextDueAt: depth.nextDueAt / 1000 } : {}),
      });
    }
    return { exchanges, queues, unackedTotal: await storage.unackedTotal(), visibilityTimeout: storage.visibilityTimeout };
  }

  private exchangeRow(name: string, rows: readonly BindingRow[]): InspectExchange {
    const implied = impliedExchangeType(rows);
    return {
      name,
      // Without a declaration only a pattern tells the type; a plain key may be direct or fanout.
      type: this.storage.declaredType(name) ?? (implied === 'topic' ? 'topic' : 'unknown'),
      bindings: rows.map((row) => ({ queue: row.queue, routingKey: row.routingKey, ...(row.pattern ? { pattern: row.pattern } : {}) })),
    };
  }

  /** Unacked messages per queue (routed as a restore would route them) with the oldest delivery. */
  private async unackedByQueue(signal?: AbortSignal): Promise<Map<string, UnackedStats>> {
    const router = new AdminRouter(this.storage);
    const byQueue = new Map<string, UnackedStats>();
    for (const message of await this.storage.unackedMessages(signal)) {
      for (const queue of await router.ownersOf(message.exchange, message.routingKey)) {
        const stats = byQueue.get(queue) ?? { count: 0, oldest: undefined };
        stats.count++;
        if (message.since !== undefined && (stats.oldest === undefined || message.since < stats.oldest)) stats.oldest = message.since;
        byQueue.set(queue, stats);
      }
    }
    return byQueue;
  }

  async restore(options: RestoreOptions = {}): Promise<RestoreReport> {
    throwIfAborted(options.signal);
    const olderThan = options.olderThan ?? this.storage.visibilityTimeout;
    if (!Number.isFinite(olderThan) || olderThan < 0) {
      throw new ConfigurationError(`restore: olderThan is a number of seconds >= 0, not ${String(olderThan)}`, { option: 'olderThan' });
    }
    const dryRun = options.dryRun === true;
    const router = new AdminRouter(this.storage);
    const moved = await this.storage.restoreExpired({
      ceiling: this.storage.now() - olderThan,
      dryRun,
      route: (exchange, routingKey) => router.route(exchange, routingKey),
      ...(options.queue === undefined ? {} : { queue: options.queue }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const report = restoreReport(dryRun, olderThan, moved);
    // Delayed messages already due wait only for a mover; a restore is one (of every queue's).
    const { delayed } = this.storage;
    if (!delayed) return report;
    const nowMs = this.storage.now() * 1000;
    const due = dryRun ? await delayed.countDue(nowMs, options.signal) : await delayed.moveDue(nowMs, options.signal);
    return due > 0 ? { ...report, delayedMoved: due } : report;
  }

  /** The dead letters of `queue`, oldest first. */
  async deadLetters(queue: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<DeadLetterEntry[]> {
    throwIfAborted(options.signal);
    return (await this.storage.deadLetters(queue, options)).map(({ entry }) => ({ ...entry, id: deadLetterId(entry) }));
  }

  /**
   * Puts dead letters that are valid envelopes back at the back of `queue`, oldest first, each
   * moved atomically, until `limit` are back; the others stay and are counted as skipped.
   */
  async requeueDeadLetters(queue: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<{ requeued: number; skipped: number }> {
    throwIfAborted(options.signal);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    let requeued = 0;
    let skipped = 0;
    const stored = await this.storage.deadLetters(queue, options.signal === undefined ? {} : { signal: options.signal });
    for (const { entry, handle } of stored) {
      if (requeued >= limit) break;
      throwIfAborted(options.signal);
      const envelope = requeueableEnvelope(entry);
      if (!envelope) skipped++;
      else if (await this.storage.moveDeadLetter(queue, handle, envelope)) requeued++;
    }
    return { requeued, skipped };
  }

  messages(queue: string, options?: MessagePageOptions): Promise<MessagePage> {
    return this.#repair.messages(queue, options);
  }

  unacked(options?: { queue?: string; offset?: number; limit?: number; signal?: AbortSignal }): Promise<UnackedPage> {
    return this.#repair.unacked(options);
  }

  deleteMessage(queue: string, id: string, options?: { step?: number; scanLimit?: number; signal?: AbortSignal }): Promise<{ deleted: boolean }> {
    return this.#repair.deleteMessage(queue, id, options);
  }

  moveMessages(from: string, to: string, options?: { limit?: number; signal?: AbortSignal }): Promise<{ moved: number }> {
    return this.#repair.moveMessages(from, to, options);
  }

  purge(queue: string, options?: { signal?: AbortSignal }): Promise<{ purged: number }> {
    return this.#repair.purge(queue, options);
  }

  restoreMessage(tag: string, options?: { signal?: AbortSignal }): Promise<{ restored: boolean; queues: string[]; deadLettered: boolean }> {
    return this.#repair.restoreMessage(tag, options);
  }

  requeueDeadLetter(queue: string, id: string, options?: { signal?: AbortSignal }): Promise<{ requeued: boolean; reason?: string }> {
    return this.#repair.requeueDeadLetter(queue, id, options);
  }

  deleteDeadLetter(queue: string, id: string, options?: { signal?: AbortSignal }): Promise<{ deleted: boolean }> {
    return this.#repair.deleteDeadLetter(queue, id, options);
  }
}

/** The report of a restore: per-queue counts in name order; dead letters only when there are some. */
export function restoreReport(dryRun: boolean, olderThan: number, moved: readonly RestoredMessage[]): RestoreReport {
  const restored = new Map<string, number>();
  const dead = new Map<string, number>();
  let total = 0;
  for (const message of moved) {
    const counts = message.status === 'restored' ? restored : dead;
    if (message.status === 'restored') total++;
    for (const queue of message.queues) counts.set(queue, (counts.get(queue) ?? 0) + 1);
  }
  const list = (map: Map<string, number>) => [...map].sort(([a], [b]) => a.localeCompare(b)).map(([queue, count]) => ({ queue, count }));
  return { dryRun, olderThan, restored: list(restored), total, ...(dead.size > 0 ? { deadLettered: list(dead) } : {}) };
}
