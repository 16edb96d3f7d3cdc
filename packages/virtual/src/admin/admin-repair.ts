/**
 * The dashboard's operations (`TransportAdminRepair`) written once over the storage hooks:
 * paging waiting and unacked messages, deleting, moving, purging, restoring one message and
 * requeueing or deleting one dead letter. Ids are digests of the stored bytes, so an id names
 * the same message whatever position it has moved to while consumers run.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { DeadLetterEntry, MessagePage, MessagePageOptions, StoredBytes, UnackedMessage, UnackedPage } from '@kelp/core';
import { ConfigurationError, OptionNames, throwIfAborted } from '@kelp/core';
import { AdminRouter } from './admin-routing.js';
import type { AdminStorage, MoveStep, StoredDeadLetter } from './admin-storage.js';
import { requeueableEnvelope } from './requeue.js';
import { rerouteText } from './reroute-text.js';

/** Records one unacked page reads at most before it answers with what it found. */
export const UNACKED_SCAN_LIMIT = 100_000;
/** Messages a delete looks through (from the oldest) when the caller gives no bound. */
export const DELETE_SCAN_LIMIT = 100_000;
const PAGE = 500;
const MOVE_BATCH = 100;

type Signal = { signal?: AbortSignal };
type UnackedOptions = { queue?: string; offset?: number; limit?: number } & Signal;
type DeleteOptions = { step?: number; scanLimit?: number } & Signal;
type MoveOptions = { limit?: number } & Signal;

// Each method refuses option names it does not know, with a did-you-mean: `count` for `limit`
// would otherwise move every message.
const MESSAGES_NAMES = OptionNames.of<MessagePageOptions>({ step: true, order: true, offset: true, limit: true, signal: true });
const UNACKED_NAMES = OptionNames.of<UnackedOptions>({ queue: true, offset: true, limit: true, signal: true });
const DELETE_NAMES = OptionNames.of<DeleteOptions>({ step: true, scanLimit: true, signal: true });
const MOVE_NAMES = OptionNames.of<MoveOptions>({ limit: true, signal: true });
const SIGNAL_NAMES = OptionNames.of<Signal>({ signal: true });

const bytesOf = (message: StoredBytes): Buffer => Buffer.from(message.raw, message.rawEncoding === 'base64' ? 'base64' : 'utf8');

/** The id of a stored message: SHA-1 of its bytes. */
export function messageId(message: StoredBytes): string {
  return createHash('sha1').update(bytesOf(message)).digest('hex');
}

/** The id of a dead letter: SHA-1 of what it records (equal records are interchangeable). */
export function deadLetterId(entry: DeadLetterEntry): string {
  return createHash('sha1').update(`${entry.reason}\0${entry.at ?? ''}\0${entry.deliveryTag ?? ''}\0`).update(bytesOf(entry)).digest('hex');
}

function checkCount(value: number | undefined, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > max) throw new ConfigurationError(`${name} must be an integer from 0 to ${max}, not ${String(value)}`, { option: name });
  return value;
}

/**
 * The offset and limit of an `admin.unacked()` page, its option names checked (did-you-mean):
 * shared by every layout's admin, so they refuse and default alike.
 */
export function unackedPageBounds(options: UnackedOptions): { offset: number; limit: number } {
  UNACKED_NAMES.check(options, 'admin.unacked');
  return { offset: checkCount(options.offset, 'offset', 0), limit: checkCount(options.limit, 'limit', 50, 1000) };
}

/**
 * The message as it is pushed to `to`: its route rewritten to the default exchange and `to`,
 * so a restore after a crash brings it back to `to`. A message that is not a JSON envelope moves
 * as it is; an envelope without a `properties` object gets one through JSON.parse/stringify.
 */
export function rerouted(message: StoredBytes, to: string): StoredBytes {
  if (message.rawEncoding !== 'utf8') return message;
  try {
    const envelope: unknown = JSON.parse(message.raw);
    if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) return message;
    // Rewritten in the text, so integers beyond 2^53 elsewhere in the envelope keep every digit.
    const text = rerouteText(message.raw, to);
    if (text !== undefined) return { raw: text, rawEncoding: 'utf8' };
    const record = envelope as Record<string, unknown>;
    const properties = typeof record['properties'] === 'object' && record['properties'] !== null ? (record['properties'] as Record<string, unknown>) : {};
    const info = typeof properties['delivery_info'] === 'object' && properties['delivery_info'] !== null ? (properties['delivery_info'] as Record<string, unknown>) : {};
    properties['delivery_info'] = { ...info, exchange: '', routing_key: to };
    record['properties'] = properties;
    return { raw: JSON.stringify(record), rawEncoding: 'utf8' };
  } catch {
    return message;
  }
}

export class AdminRepair<Handle> {
  constructor(private readonly storage: AdminStorage<Handle>) {}

  async messages(queue: string, options: MessagePageOptions = {}): Promise<MessagePage> {
    MESSAGES_NAMES.check(options, 'admin.messages');
    throwIfAborted(options.signal);
    const step = checkCount(options.step, 'step', 0, 255);
    const order = options.order ?? 'oldest';
    if (order !== 'oldest' && order !== 'newest') throw new ConfigurationError(`order must be oldest or newest, not ${String(order)}`, { option: 'order' });
    const offset = checkCount(options.offset, 'offset', 0);
    const limit = checkCount(options.limit, 'limit', 50, 1000);
    const [total, stored] = await Promise.all([
      this.storage.stepLength(queue, step),
      limit === 0 ? Promise.resolve([]) : this.storage.waitingRange(queue, step, { order, offset, count: limit }),
    ]);
    return { queue, step, order, offset, total, items: stored.map((message, i) => ({ ...message, id: messageId(message), position: offset + i })) };
  }

  async unacked(options: UnackedOptions = {}): Promise<UnackedPage> {
    const { offset, limit } = unackedPageBounds(options);
    const router = new AdminRouter(this.storage);
    const items: UnackedMessage[] = [];
    let skipped = 0;
    let scanned = 0;
    let total = 0;
    while (items.length < limit && scanned < UNACKED_SCAN_LIMIT) {
      throwIfAborted(options.signal);
      const page = await this.storage.unackedRange(scanned, PAGE);
      total = page.total;
      if (page.records.length === 0) break;
      scanned += page.records.length;
      for (const record of page.records) {
        const queues = await router.ownersOf(record.exchange, record.routingKey);
        if (options.queue !== undefined && !queues.includes(options.queue)) continue;
        if (skipped < offset) {
          skipped++;
          continue;
        }
        if (items.length >= limit) break;
        const envelope = record.envelope ?? { raw: '', rawEncoding: 'utf8' as const };
        items.push({
          ...envelope,
          tag: record.tag,
          exchange: record.exchange,
          routingKey: record.routingKey,
          queues,
          ...(record.since === undefined ? {} : { since: record.since }),
        });
      }
    }
    return { total, items, scanned };
  }

  /** The steps to look in: the one asked for, else every step that holds messages. */
  private async steps(queue: string, step: number | undefined): Promise<number[]> {
    if (step !== undefined) return [checkCount(step, 'step', 0, 255)];
    return [...(await this.storage.queueDepth(queue)).steps.keys()].sort((a, b) => a - b);
  }

  async deleteMessage(queue: string, id: string, options: DeleteOptions = {}): Promise<{ deleted: boolean }> {
    DELETE_NAMES.check(options, 'admin.deleteMessage');
    const scanLimit = checkCount(options.scanLimit, 'scanLimit', DELETE_SCAN_LIMIT);
    for (const step of await this.steps(queue, options.step)) {
      for (let offset = 0; offset < scanLimit; offset += PAGE) {
        throwIfAborted(options.signal);
        // From the newest end: consumers pop (and restores push) at the oldest end, which would
        // shift the offsets of an oldest-first scan under it and skip the message; pushes at the
        // newest end only make this scan read a few messages twice.
        const page = await this.storage.waitingRange(queue, step, { order: 'newest', offset, count: Math.min(PAGE, scanLimit - offset) });
        const found = page.find((message) => messageId(message) === id);
        // Equal bytes are the same message: removing any copy is removing it.
        if (found) return { deleted: await this.storage.removeWaiting(queue, step, found) };
        if (page.length < PAGE) break;
      }
    }
    return { deleted: false };
  }

  async moveMessages(from: string, to: string, options: MoveOptions = {}): Promise<{ moved: number }> {
    MOVE_NAMES.check(options, 'admin.moveMessages');
    if (from === to) throw new ConfigurationError('moveMessages: from and to are the same queue', { option: 'to' });
    if (to === '') throw new ConfigurationError('moveMessages: to must name a queue', { option: 'to' });
    let remaining = checkCount(options.limit, 'limit', Number.MAX_SAFE_INTEGER);
    let moved = 0;
    const steps = await this.steps(from, undefined);
    // Each step moves at most the length it has when the move starts: producers that keep up
    // with the move would otherwise keep it going for ever.
    const lengths = await Promise.all(steps.map((step) => this.storage.stepLength(from, step)));
    for (const [i, step] of steps.entries()) {
      let stepRemaining = Math.min(remaining, lengths[i] ?? 0);
      // A batch that moves nothing found other messages at the consuming end every time (a
      // restore pushed there, or consumers drain faster than we read): after ten in a row the
      // move stops rather than race them.
      let misses = 0;
      while (stepRemaining > 0 && misses < 10) {
        throwIfAborted(options.signal);
        const batch = await this.storage.waitingRange(from, step, { order: 'oldest', offset: 0, count: Math.min(MOVE_BATCH, stepRemaining) });
        if (batch.length === 0) break;
        const steps: MoveStep[] = batch.map((stored) => ({ stored, rewritten: rerouted(stored, to) }));
        const done = await this.storage.moveWaiting(from, to, step, steps);
        moved += done;
        remaining -= done;
        stepRemaining -= done;
        misses = done === 0 ? misses + 1 : 0;
      }
    }
    return { moved };
  }

  async purge(queue: string, options: Signal = {}): Promise<{ purged: number }> {
    SIGNAL_NAMES.check(options, 'admin.purge');
    throwIfAborted(options.signal);
    return { purged: await this.storage.purgeQueue(queue) };
  }

  async restoreMessage(tag: string, options: Signal = {}): Promise<{ restored: boolean; queues: string[]; deadLettered: boolean }> {
    SIGNAL_NAMES.check(options, 'admin.restoreMessage');
    throwIfAborted(options.signal);
    const router = new AdminRouter(this.storage);
    const result = await this.storage.restoreTag(tag, (exchange, routingKey) => router.route(exchange, routingKey), options.signal);
    if (!result) return { restored: false, queues: [], deadLettered: false };
    return { restored: result.status === 'restored', queues: [...result.queues], deadLettered: result.status === 'dead-lettered' };
  }

  private async findDeadLetter(queue: string, id: string, signal?: AbortSignal): Promise<StoredDeadLetter<Handle> | undefined> {
    throwIfAborted(signal);
    const stored = await this.storage.deadLetters(queue, signal === undefined ? {} : { signal });
    return stored.find(({ entry }) => deadLetterId(entry) === id);
  }

  async requeueDeadLetter(queue: string, id: string, options: Signal = {}): Promise<{ requeued: boolean; reason?: string }> {
    SIGNAL_NAMES.check(options, 'admin.requeueDeadLetter');
    const found = await this.findDeadLetter(queue, id, options.signal);
    if (!found) return { requeued: false, reason: 'no such dead letter (requeued or deleted meanwhile)' };
    const envelope = requeueableEnvelope(found.entry);
    if (!envelope) return { requeued: false, reason: 'not a valid message envelope: it stays a dead letter' };
    return { requeued: await this.storage.moveDeadLetter(queue, found.handle, envelope) };
  }

  async deleteDeadLetter(queue: string, id: string, options: Signal = {}): Promise<{ deleted: boolean }> {
    SIGNAL_NAMES.check(options, 'admin.deleteDeadLetter');
    const found = await this.findDeadLetter(queue, id, options.signal);
    return { deleted: found !== undefined && (await this.storage.removeDeadLetter(queue, found.handle)) };
  }
}
