/**
 * Operator-facing views of a transport's state, used by `kelp inspect`, `kelp restore` and
 * `kelp dead-letters`. Optional: a transport without an `admin` object simply has no such tools.
 * Durations are in seconds.
 */

export interface InspectBinding {
  queue: string;
  routingKey: string;
  /** For topic exchanges: the stored pattern (Kombu's compiled regex source). */
  pattern?: string;
}

export interface InspectExchange {
  name: string;
  /** `unknown` when only the binding set is known (Kombu never stores exchange types in Redis). */
  type: 'direct' | 'topic' | 'fanout' | 'unknown';
  bindings: InspectBinding[];
}

export interface InspectQueue {
  name: string;
  /** Waiting messages, priority sub-lists summed. */
  length: number;
  /** Waiting messages per priority sub-list, keyed by the priority step (e.g. { "0": 5, "3": 1 }). */
  priorityLengths?: Record<string, number>;
  unacked: number;
  /** Age in seconds of the oldest unacked message of this queue, null when none. */
  oldestUnackedAge: number | null;
  /** Messages in this queue's dead-letter list. */
  deadLetters?: number;
  /**
   * Messages dropped without dead-letter routing, by reason (`expired`: their TTL had passed
   * before a consumer took them). Omitted when none.
   */
  dropped?: Record<string, number>;
  /** Delayed messages (`countdown` / `eta`) routed to this queue and not yet moved into it. Omitted when none. */
  delayed?: number;
  /** The earliest due time of those, epoch seconds. Omitted when none. */
  nextDueAt?: number;
}

export interface InspectReport {
  exchanges: InspectExchange[];
  queues: InspectQueue[];
  unackedTotal: number;
  /** What restore uses by default. */
  visibilityTimeout: number;
}

export interface RestoreOptions {
  /** Restore only messages unacked for longer than this (default: the visibility timeout). */
  olderThan?: number;
  /** Only this queue's unacked messages. */
  queue?: string;
  /** Count what would move; change nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface RestoreReport {
  dryRun: boolean;
  /** The threshold used. */
  olderThan: number;
  restored: { queue: string; count: number }[];
  total: number;
  /**
   * Unacked messages that had no route any more: moved to their queue's dead-letter list instead
   * of being dropped (not counted in `total`). Omitted when none.
   */
  deadLettered?: { queue: string; count: number }[];
  /**
   * Delayed messages (`countdown` / `eta`) already due that the restore moved into their queues
   * (with `dryRun`: that it would move), as a running mover does. Omitted when none.
   */
  delayedMoved?: number;
}

export interface DeadLetterEntry {
  queue: string;
  reason: string;
  /** Epoch seconds when it was dead-lettered, when known. */
  at?: number;
  deliveryTag?: string;
  /** The original bytes as stored: UTF-8 text when valid, else base64. */
  raw: string;
  rawEncoding: 'utf8' | 'base64';
  /** Identifies this stored record for `requeueDeadLetter` / `deleteDeadLetter` (a digest of it). */
  id?: string;
}

/** Bytes as stored: UTF-8 text when valid, else base64. */
export interface StoredBytes {
  raw: string;
  rawEncoding: 'utf8' | 'base64';
}

/** One waiting message, read without consuming it. */
export interface WaitingMessage extends StoredBytes {
  /** A digest of the stored bytes: what `deleteMessage` takes. Equal bytes share an id. */
  id: string;
  /** Place in the order asked for, from 0 (with `oldest`, 0 is the next to be consumed). */
  position: number;
}

export interface MessagePageOptions {
  /** The priority step whose sub-list to read (default the first step, 0). */
  step?: number;
  /** `oldest` first (next to be consumed first, the default) or `newest` first. */
  order?: 'oldest' | 'newest';
  offset?: number;
  /** At most this many (default 50, at most 1000). */
  limit?: number;
  signal?: AbortSignal;
}

export interface MessagePage {
  queue: string;
  step: number;
  order: 'oldest' | 'newest';
  offset: number;
  /** Messages in this priority sub-list when it was read. */
  total: number;
  items: WaitingMessage[];
}

/** One unacked message: the envelope as delivered and where a restore would send it. */
export interface UnackedMessage extends StoredBytes {
  tag: string;
  exchange: string;
  routingKey: string;
  /** The queues it is counted under (its route now, else the queue its routing key names). */
  queues: string[];
  /** Epoch seconds of its delivery (or due time), when known. */
  since?: number;
}

export interface UnackedPage {
  /** Unacked records in the whole db (every queue). */
  total: number;
  /** Oldest delivery first. */
  items: UnackedMessage[];
  /** Records read to fill the page (the page stops at `UNACKED_SCAN_LIMIT` of them). */
  scanned: number;
}

/**
 * The repair operations behind `kelp dashboard`. Optional: a transport may offer the reports and
 * not these; every operation changes the broker in steps that are safe while consumers run.
 */
export interface TransportAdminRepair {
  /** Waiting messages of one priority sub-list, without consuming them. */
  messages(queue: string, options?: MessagePageOptions): Promise<MessagePage>;
  /** Unacked messages, oldest delivery first, optionally only those counted under `queue`. */
  unacked(options?: { queue?: string; offset?: number; limit?: number; signal?: AbortSignal }): Promise<UnackedPage>;
  /**
   * Deletes one waiting message of `queue` (priority sub-list `step`) by its id, looking at no
   * more than `scanLimit` messages (default 100,000) from the oldest.
   */
  deleteMessage(queue: string, id: string, options?: { step?: number; scanLimit?: number; signal?: AbortSignal }): Promise<{ deleted: boolean }>;
  /**
   * Moves waiting messages, oldest first, to the back of `to` (same priority step), rewriting
   * their route to `to` so a later restore brings them back there.
   */
  moveMessages(from: string, to: string, options?: { limit?: number; signal?: AbortSignal }): Promise<{ moved: number }>;
  /** Removes every waiting message of `queue` (unacked ones are not touched). */
  purge(queue: string, options?: { signal?: AbortSignal }): Promise<{ purged: number }>;
  /**
   * Restores one unacked message now, whatever its age (taking `unacked_mutex` as a restore
   * does); `restored` false when it was acked or restored meanwhile.
   */
  restoreMessage(tag: string, options?: { signal?: AbortSignal }): Promise<{ restored: boolean; queues: string[]; deadLettered: boolean }>;
  /** Puts one dead letter (by its `id`) back on its queue, when it is a valid envelope. */
  requeueDeadLetter(queue: string, id: string, options?: { signal?: AbortSignal }): Promise<{ requeued: boolean; reason?: string }>;
  /** Deletes one dead letter by its `id`. */
  deleteDeadLetter(queue: string, id: string, options?: { signal?: AbortSignal }): Promise<{ deleted: boolean }>;
}

export interface TransportAdmin extends Partial<TransportAdminRepair> {
  inspect(options?: { signal?: AbortSignal }): Promise<InspectReport>;
  restore(options?: RestoreOptions): Promise<RestoreReport>;
  deadLetters(queue: string, options?: { limit?: number; signal?: AbortSignal }): Promise<DeadLetterEntry[]>;
  /** Puts dead-lettered messages back on their queue (only those that are valid envelopes). */
  requeueDeadLetters(queue: string, options?: { limit?: number; signal?: AbortSignal }): Promise<{ requeued: number; skipped: number }>;
}
