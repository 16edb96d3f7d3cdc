/**
 * What `kelp inspect`, `kelp restore` and `kelp dead-letters` expect from a transport. These are
 * transport-specific (they read Redis keys directly), so the CLI looks for an optional `admin`
 * object on `connection.transport` and says "not supported" when there is none. The shapes are
 * proposed to the transport authors in /work/notes-cli-needs.md.
 */
import type { Connection } from 'kelp';
import { NotSupportedError } from './errors.js';

export interface InspectBinding {
  queue: string;
  routingKey: string;
  /** For topic exchanges, the pattern as stored (same as routingKey in Kombu's layout). */
  pattern?: string;
}

export interface InspectExchange {
  name: string;
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
  /** Messages in this queue's dead-letter list, when it has one. */
  deadLetters?: number;
}

export interface InspectReport {
  exchanges: InspectExchange[];
  queues: InspectQueue[];
  unackedTotal: number;
  /** Seconds; what restore uses by default. */
  visibilityTimeout: number;
}

export interface RestoreOptions {
  /** Restore only messages unacked for longer than this many seconds (default: the visibility timeout). */
  olderThan?: number;
  queue?: string;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface RestoreReport {
  dryRun: boolean;
  /** The threshold used, in seconds. */
  olderThan: number;
  restored: { queue: string; count: number }[];
  total: number;
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
  deadLetters?(queue: string, options?: { limit?: number; signal?: AbortSignal }): Promise<DeadLetterEntry[]>;
  requeueDeadLetters?(queue: string, options?: { signal?: AbortSignal }): Promise<{ requeued: number }>;
}

/** The transport's admin object, or a clear "not supported" error naming the transport. */
export function requireAdmin(connection: Connection, what: string): TransportAdmin {
  const transport = connection.transport as unknown as { admin?: unknown; driverName?: string };
  const admin = transport.admin;
  if (isAdmin(admin)) return admin;
  const driver = typeof transport.driverName === 'string' ? transport.driverName : 'this';
  throw new NotSupportedError(`kelp ${what} is not supported for the ${driver} transport yet`);
}

function isAdmin(value: unknown): value is TransportAdmin {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof TransportAdmin, unknown>>;
  return typeof candidate.inspect === 'function' && typeof candidate.restore === 'function';
}
