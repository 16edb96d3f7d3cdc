/**
 * `ChannelStorage`: what a transport implements for `VirtualChannel` (Kombu's `_get`, `_put`,
 * `_purge`, `_size`, `_delete`, `_new_queue`, `_has_queue`, `get_table`, plus the ack store Kombu
 * keeps in its QoS). The required members are the plain storage every broker has; abilities only
 * some brokers have are optional capability objects, so a reader sees on the interface what a
 * transport can do, and the channel sees `undefined` where it must fall back to the plain members.
 */
import type { QueueDeclareOptions } from '@kelp/core';
import type { BindingRow } from './exchange.js';
import type { DeadLetterOutcome, GetOptions, GetResult, RestoreOptions, RestoreOutcome, RouteResolver } from './storage-types.js';

export interface ChannelStorage {
  /** Stores `envelopeJson` at the back of `queue` (Kombu `_put`: LPUSH to the priority sub-list). */
  put(queue: string, envelopeJson: string, priority: number): Promise<void>;
  /** Takes the next message of `queue` (lowest priority step first); records it unacked unless noAck. */
  get(queue: string, options: GetOptions): Promise<GetResult | undefined>;
  /** Empties every list of `queue`; resolves with how many messages were removed. */
  purge(queue: string): Promise<number>;
  size(queue: string): Promise<number>;
  /** Removes `queue`'s messages and storage (bindings are removed separately with removeBinding). */
  deleteQueue(queue: string): Promise<void>;
  hasQueue(queue: string): Promise<boolean>;
  newQueue(queue: string, options: QueueDeclareOptions): Promise<void>;
  /** The stored binding rows of `exchange` (Kombu `get_table`). */
  getTable(exchange: string): Promise<BindingRow[]>;
  addBinding(exchange: string, row: BindingRow): Promise<void>;
  removeBinding(exchange: string, row: BindingRow): Promise<void>;
  /** Moves an unusable payload aside to `queue`'s dead-letter list with the reason; never loses it. */
  deadLetter(queue: string, rawPayload: string, reason: string): Promise<void>;
  /** Counts a message of `queue` dropped for `reason` (e.g. `expired`), for `inspect`. */
  countDropped(queue: string, reason: string): Promise<void>;
  /** Where delivered, not yet acknowledged messages are kept. */
  readonly unacked: UnackedStore;

  /** The broker delivers fanout exchanges itself; without it a fanout publish is stored in every bound queue. */
  readonly fanout?: FanoutPublish;
  /** The broker looks bindings up and pushes in one step; without it the channel reads the table, then puts. */
  readonly routing?: OneStepRouting;
  /** Takes many messages in one call; without it the channel calls `get` once per message. */
  readonly batchGet?: BatchGet;
  /** Puts a message back at the head of its queue; without it `put` (the back) is used. */
  readonly headPut?: HeadPut;
  /** The broker keeps replicas and reports which hold a write; without it no publish can be confirmed by one. */
  readonly replication?: ReplicaAcknowledgement;
  /** Delayed delivery (`countdown` / `eta`); without it such a publish is refused. */
  readonly delayed?: DelayedDelivery;
  /** Queue expiry (`x-expires`); without it the argument is accepted and does nothing. */
  readonly queueExpiry?: QueueExpiry;
}

/** `x-expires` (queue-expiry.ts): what counts as use of a queue resets its idle clock. */
export interface QueueExpiry {
  /**
   * `queues` were used now (a get, a consumer attached); those declared with `x-expires` stay for
   * that long again. `periodic`: a consumer's regular touch, which may skip a queue touched less
   * than min(1000 ms, x-expires / 3) ago (queueTouchInterval).
   */
  touch(queues: readonly string[], options?: { periodic?: boolean }): Promise<void>;
}

/** The writes of a publish: `put`, and the broker's own routing, fanout and delayed sets where it has them. */
export type PublishWrites = Pick<ChannelStorage, 'put' | 'routing' | 'fanout' | 'delayed'>;

/**
 * Per-queue delayed sets scored by due time (docs/wire-format.md#delayed-delivery): a delayed
 * publish is routed at once and stored in the set of every queue it reaches; a mover (any
 * process running a hub, delayed-mover.ts) later moves the due ones into their queues.
 */
export interface DelayedDelivery {
  /**
   * Stores `envelopeJson` (unique: it carries its delivery tag) in the delayed set of every
   * queue in `queues`, due at `dueAtMs` (epoch ms), in one atomic step.
   */
  putDelayed(queues: readonly string[], envelopeJson: string, priority: number, dueAtMs: number): Promise<void>;
  /**
   * Moves up to `max` messages due at `nowMs` or earlier, over every queue, to the back of their
   * queue's priority sub-list, each move atomic and applying the queue's arguments (TTL, length
   * limits) as a publish at that moment would. Resolves with how many moved and the earliest due
   * time still waiting (undefined when none).
   */
  moveDue(nowMs: number, max: number): Promise<{ moved: number; nextDueAt: number | undefined }>;
}

export interface ReplicaAcknowledgement {
  /** The longest `timeout` (seconds) this storage can wait; a publish asking for more is refused before it writes. */
  readonly maxTimeout: number;
  /**
   * Where confirmed publishes write: `waitForReplicas` answers for these writes. A broker whose
   * wait holds up its connection (Redis WAIT) gives confirmed publishes a connection of their own
   * here, so plain publishes and acks never queue behind a wait.
   */
  readonly writes: PublishWrites;
  /**
   * Waits until at least `replicas` replicas acknowledged every write made through `writes`
   * before the call, or `timeout` seconds passed, and resolves with how many did (fewer than
   * asked when the time ran out). Never resolves early with a count that covers less.
   */
  waitForReplicas(replicas: number, timeout: number): Promise<number>;
  /**
   * The writes and wait of one confirmed publish, for a broker whose writes land on several
   * servers (the masters of a sharded Redis cluster): its `waitForReplicas` waits on the servers
   * that publish's writes went to, not on every server written to by anyone. Without it, this
   * object's `writes` and `waitForReplicas` serve every publish.
   */
  forPublish?(): ReplicaAcknowledgement;
}

/** Kombu's ack emulation: the records of delivered messages, and putting them back (restore). */
export interface UnackedStore {
  /**
   * Records a delivery that did not come through `get` with noAck false (e.g. pub/sub, or a
   * message popped for a noAck consumer and delivered to an ack-mode one); `queue` is the queue it
   * is delivered from (a store that keeps records per queue writes them there).
   */
  record(tag: string, envelopeJson: string, exchange: string, routingKey: string, queue?: string): Promise<void>;
  /** Deletes the records of `tags` (ack, or reject without requeue). */
  ack(tags: readonly string[]): Promise<void>;
  /**
   * Kombu `restore_by_tag` (docs/wire-format.md#restore), atomically: remove the record and push
   * the redelivery-marked envelope (`markRedelivered`) to every queue `resolveQueues` returns.
   */
  restore(tag: string, options: RestoreOptions, resolveQueues: RouteResolver): Promise<RestoreOutcome>;

  /** Records expire after the visibility timeout and are restored by a sweep. */
  readonly visibility?: VisibilityTimeout;
  /** A record can be moved to a dead-letter list in one step (basicDeadLetter needs it). */
  readonly deadLetters?: UnackedDeadLetters;
  /** Many rejects with requeue go to the broker together. */
  readonly requeues?: BatchRequeue;
}

export interface BatchRequeue {
  /**
   * `restore(tag, { leftmost: true })` for every tag in one broker step: each record goes to the
   * back of its queues, or comes back `unroutable` as `restore` says it. Outcomes come in the
   * order of `tags`; undefined for a record the step could not settle (it changed meanwhile), which
   * the caller restores alone.
   */
  requeueMany(tags: readonly string[], resolveQueues: RouteResolver): Promise<(RestoreOutcome | undefined)[]>;
}

export interface FanoutPublish {
  /** Broadcasts on a fanout exchange; resolves with how many subscribers got it. */
  putFanout(exchange: string, envelopeJson: string, routingKey: string): Promise<number>;
}

export interface OneStepRouting {
  /**
   * Looks the exchange's bindings up and pushes to every queue whose binding key equals
   * `routingKey`, on the broker in one atomic step; resolves with the queues reached ([] when none
   * matched, then nothing was stored).
   */
  putDirect(exchange: string, routingKey: string, envelopeJson: string, priority: number): Promise<string[]>;
  /**
   * For exchanges the broker cannot match itself (topic): `route` maps a binding table to queues;
   * the broker pushes only if its table is still the one routed with, atomically, and resolves
   * with the queues reached ([] when none matched).
   */
  putRouted(exchange: string, envelopeJson: string, priority: number, route: (table: readonly BindingRow[]) => string[]): Promise<string[]>;
}

export interface BatchGet {
  /** Up to `max` messages over `queues`, asked in the given order. */
  getMany(queues: readonly string[], max: number, options: GetOptions): Promise<GetResult[]>;
}

export interface HeadPut {
  /** Puts `envelopeJson` back at the head of `queue` (the next message to be taken; Redis RPUSH). */
  putFront(queue: string, envelopeJson: string, priority: number): Promise<void>;
}

export interface VisibilityTimeout {
  /** Pushes the visibility deadline of `tag` `seconds` into the future. */
  extend(tag: string, seconds: number): Promise<void>;
  /**
   * Keeps a record invisible until `epochSeconds` (wall clock) plus the visibility timeout, never
   * shortening a later deadline (Redis: ZADD XX GT on unacked_index). Used for Celery ETA
   * messages held unacked until due. Without it the channel uses `extend`.
   */
  holdUntil?(tag: string, epochSeconds: number): Promise<void>;
  /** Restores every record older than the visibility timeout (Kombu `restore_visible`). */
  restoreExpired(resolveQueues: RouteResolver, signal?: AbortSignal): Promise<RestoreOutcome[]>;
}

export interface UnackedDeadLetters {
  /**
   * Settles a delivered message by moving its record (the original envelope) to the dead-letter
   * list of `queue` with `reason`, in one atomic step. `queue` may be undefined when the channel
   * does not know it; the store then derives it from the envelope. Resolves undefined when there
   * is no record (already acked, restored or never recorded).
   */
  moveToDeadLetters(tag: string, queue: string | undefined, reason: string): Promise<DeadLetterOutcome | undefined>;
}
