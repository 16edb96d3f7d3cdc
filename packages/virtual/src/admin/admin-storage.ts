/**
 * The hooks a transport fills so that {@link VirtualAdmin} can serve `transport.admin`: a few
 * reads of what the storage holds, one restore of expired unacked messages and one atomic move of
 * a dead letter. Everything an operator sees (reports, routing, inspect rows) is built from these
 * in `virtual-admin.ts`, once for every transport.
 */
import type { DeadLetterEntry, StoredBytes } from '@kelp/core';
import type { RoutingSource } from './admin-routing.js';
import type { RequeueableEnvelope } from './requeue.js';

/** One unacked message as inspect counts it. */
export interface UnackedView {
  exchange: string;
  routingKey: string;
  /** Wall-clock seconds of its delivery (or of its due time); undefined when unknown. */
  since: number | undefined;
}

/** What the restore hook is asked to do. */
export interface ExpiredRestore {
  /** Restore entries delivered at or before this wall-clock second. */
  ceiling: number;
  /** Only entries this queue owns (see `planRestore`). */
  queue?: string;
  /** Count what would move; change nothing. */
  dryRun: boolean;
  /** Where a message goes now (bindings read once per exchange for the whole run). */
  route(exchange: string, routingKey: string): Promise<readonly string[]>;
  signal?: AbortSignal;
}

/** One message a restore moved (or, with dryRun, would move). */
export interface RestoredMessage {
  status: 'restored' | 'dead-lettered';
  /** The queues pushed to; for a dead letter, the queue whose dead-letter list took it. */
  queues: readonly string[];
}

/** One record of the unacked store, as the admin pages through it. */
export interface UnackedRecord {
  tag: string;
  /** The envelope as delivered; undefined when the record is not `[envelope, exchange, routingKey]`. */
  envelope: StoredBytes | undefined;
  exchange: string;
  routingKey: string;
  /** Wall-clock seconds of its delivery (or due time); undefined when unknown. */
  since: number | undefined;
}

/** One waiting message to move: as stored, and as it is pushed to the target. */
export interface MoveStep {
  stored: StoredBytes;
  rewritten: StoredBytes;
}

/** A stored dead letter and the handle its storage moves it by. */
export interface StoredDeadLetter<Handle> {
  entry: DeadLetterEntry;
  handle: Handle;
}

/** One queue's waiting, dead-lettered, dropped and delayed messages. */
export interface QueueDepth {
  steps: ReadonlyMap<number, number>;
  deadLetters: number;
  dropped?: Readonly<Record<string, number>>;
  /** Delayed messages not yet moved into the queue. */
  delayed?: number;
  /** The earliest due time of those, epoch ms. */
  nextDueAt?: number;
}

export interface AdminStorage<Handle = unknown> extends RoutingSource {
  /** Seconds: restore's default threshold, and what inspect reports. */
  readonly visibilityTimeout: number;
  /** Wall-clock seconds, the clock unacked deliveries are stamped with. */
  now(): number;
  /** Exchanges with a declaration or a binding row. */
  exchangeNames(signal?: AbortSignal): Promise<Iterable<string>>;
  /** Queues the storage holds beyond those named by bindings and unacked messages. */
  queueNames(signal?: AbortSignal): Promise<Iterable<string>>;
  /** Waiting messages of `queue` per priority step, its dead-letter count and its drop counts by reason. */
  queueDepth(queue: string): Promise<QueueDepth>;
  /** Every readable unacked message. */
  unackedMessages(signal?: AbortSignal): Promise<Iterable<UnackedView>>;
  /** How many unacked records there are, readable or not. */
  unackedTotal(): Promise<number>;
  /**
   * Restores expired unacked messages newest-expired first, each to the head of its queues, so
   * the oldest is next in line; the decision per message is `planRestore`'s.
   */
  restoreExpired(request: ExpiredRestore): Promise<RestoredMessage[]>;
  /** The dead letters of `queue`, oldest first (the oldest `limit` when given). */
  deadLetters(queue: string, options: { limit?: number; signal?: AbortSignal }): Promise<StoredDeadLetter<Handle>[]>;
  /**
   * Replaces one dead letter with `envelope` at the back of `queue`, atomically; false when that
   * dead letter is no longer there.
   */
  moveDeadLetter(queue: string, handle: Handle, envelope: RequeueableEnvelope): Promise<boolean>;
  /** Removes one dead letter; false when it is no longer there. */
  removeDeadLetter(queue: string, handle: Handle): Promise<boolean>;

  // ---- waiting messages, read and changed without consuming (the dashboard) ----

  /** Messages waiting in the `step` sub-list of `queue`. */
  stepLength(queue: string, step: number): Promise<number>;
  /** `count` waiting messages from `offset`, counted from the next to be consumed (`oldest`) or the last published. */
  waitingRange(queue: string, step: number, range: { order: 'oldest' | 'newest'; offset: number; count: number }): Promise<StoredBytes[]>;
  /** Removes one waiting message with exactly these bytes; false when none is left. */
  removeWaiting(queue: string, step: number, message: StoredBytes): Promise<boolean>;
  /**
   * Moves messages from the consuming end of `from`'s sub-list to the back of `to`'s, in order,
   * each only if it is the next to be consumed when its turn comes (one a consumer took first is
   * skipped); returns how many moved.
   */
  moveWaiting(from: string, to: string, step: number, messages: readonly MoveStep[]): Promise<number>;
  /** Removes every waiting message of `queue`; returns how many. */
  purgeQueue(queue: string): Promise<number>;
  /** Unacked records, oldest delivery first, from `offset`; `total` counts every record. */
  unackedRange(offset: number, count: number): Promise<{ total: number; records: UnackedRecord[] }>;
  /**
   * Restores the unacked message `tag` now, as an expired one would be (taking the restore lock
   * where the storage has one); undefined when it is no longer unacked.
   */
  restoreTag(tag: string, route: (exchange: string, routingKey: string) => Promise<readonly string[]>, signal?: AbortSignal): Promise<RestoredMessage | undefined>;

  /** The delayed sets (countdown / eta), when the storage keeps them. */
  readonly delayed?: AdminDelayed;
}

/** What `restore` does with delayed messages: those already due are moved, as a running mover would. */
export interface AdminDelayed {
  /** How many delayed messages are due at `nowMs` (epoch ms), over every queue. */
  countDue(nowMs: number, signal?: AbortSignal): Promise<number>;
  /** Moves the messages due at `nowMs` into their queues in bounded atomic batches; resolves with how many. */
  moveDue(nowMs: number, signal?: AbortSignal): Promise<number>;
}
