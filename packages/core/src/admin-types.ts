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
}

export interface TransportAdmin {
  inspect(options?: { signal?: AbortSignal }): Promise<InspectReport>;
  restore(options?: RestoreOptions): Promise<RestoreReport>;
  deadLetters(queue: string, options?: { limit?: number; signal?: AbortSignal }): Promise<DeadLetterEntry[]>;
  /** Puts dead-lettered messages back on their queue (only those that are valid envelopes). */
  requeueDeadLetters(queue: string, options?: { limit?: number; signal?: AbortSignal }): Promise<{ requeued: number; skipped: number }>;
}
