/**
 * Visibility restore in bounded batches (issue 4 item 7), shared by the channel's sweep
 * (`restoreExpiredUnacked`) and the admin's `restore` (`kelp restore`).
 *
 * Each batch: take `unacked_mutex` (SET NX PX, as Kombu does), read up to `batchSize` expired
 * tags newest-expired first (ZREVRANGEBYSCORE ... LIMIT, so after RPUSHing every batch the
 * oldest message is next in line, as after Kombu's single scan), resolve their queues in JS,
 * then one short Lua call restores the entries still unchanged (SHA1 compare-and-swap) and
 * releases the lock. No Redis command ever touches more than one batch, several restorers
 * (kelp or Python) interleave safely, and running it twice restores nothing twice.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AbortedError, throwIfAborted } from '@kelp/core';
import { clampPriority, markRedeliveredInPlace, planRestore } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { deadLetterRecord, envelopeBytes } from './dead-letters.js';
import type { RedisKeys } from './keys.js';
import { releaseMutex } from './scripts.js';

/**
 * Tags per Lua call: small enough that one call (HGET, SHA1, ZREM, HDEL, RPUSH per entry) stays
 * around a millisecond of server time, with headroom for a busy server
 * (docs/performance.md#costs-behind-the-design).
 */
export const DEFAULT_RESTORE_BATCH = 200;

export type QueueResolver = (exchange: string, routingKey: string, envelopeJson: string) => Promise<readonly string[]>;

export interface BatchRestoreOptions {
  /** Restore entries whose unacked_index score is <= this (epoch seconds). */
  ceiling: number;
  /** Most entries to examine in this run (Kombu's unacked_restore_limit); unlimited when unset. */
  limit?: number;
  batchSize?: number;
  /** Only entries that route to this queue. */
  queue?: string;
  /** Count what would move; change nothing and take no lock. */
  dryRun?: boolean;
  resolve: QueueResolver;
  /** 'bare' = the step-0 list (Kombu 5.2.4), 'priority' = the message's sub-list (HEAD). */
  target: 'bare' | 'priority';
  /** Lock expiry, and how long to wait for a busy lock before each batch (0 = stop at once). */
  lock: { expireMs: number; waitMs: number };
  wallClock: () => number;
  signal?: AbortSignal;
}

export interface RestoredItem {
  tag: string;
  status: 'restored' | 'dead-lettered';
  /** The queues pushed to; for a dead letter, the queue whose dead-letter list took it. */
  queues: readonly string[];
  reason?: string;
}

export interface BatchRestoreResult {
  items: RestoredItem[];
  /** True when a run stopped because another restorer held the lock. */
  lockBusy: boolean;
}

export interface PlannedItem extends RestoredItem {
  sha: string;
  value: string;
  push: 'RPUSH' | 'LPUSH';
  keys: string[];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(new AbortedError('restore aborted', { cause: signal?.reason }));
    }
    signal?.addEventListener('abort', abort, { once: true });
  });

/**
 * The longest a batch's lock may live. A batch holds it for milliseconds; if its release is lost
 * (the connection closed mid-sweep), Kombu's 300 s expiry would stop every sweeper in the db for
 * five minutes. A batch that outlives it loses the lock and the script changes nothing.
 */
const BATCH_LOCK_MAX_MS = 10_000;

async function acquire(client: Redis, keys: RedisKeys, token: string, options: BatchRestoreOptions): Promise<boolean> {
  const deadline = Date.now() + options.lock.waitMs;
  const px = Math.min(options.lock.expireMs, BATCH_LOCK_MAX_MS);
  for (;;) {
    if ((await client.set(keys.unackedMutex, token, 'PX', px, 'NX')) === 'OK') return true;
    if (Date.now() >= deadline) return false;
    await sleep(25, options.signal);
  }
}

type PlanOptions = Pick<BatchRestoreOptions, 'queue' | 'resolve' | 'target' | 'wallClock'>;

/** Parses one `unacked` value and decides where it goes. */
async function plan(
  tag: string,
  value: Buffer,
  keys: RedisKeys,
  options: PlanOptions,
  resolved: Map<string, Promise<readonly string[]>>,
): Promise<PlannedItem | 'skip'> {
  const sha = createHash('sha1').update(value).digest('hex');
  const now = options.wallClock();
  let entry: unknown;
  try {
    entry = JSON.parse(value.toString('utf8'));
  } catch {
    entry = undefined;
  }
  if (!Array.isArray(entry) || typeof entry[0] !== 'object' || entry[0] === null) {
    // Not Kombu's [envelope, exchange, routing_key]: never drop it, keep it aside under the
    // unacked key's name (a queue's own records: that queue's) so an operator can look at it.
    const queue = keys.unackedOwner ?? keys.stripPrefix(keys.unacked);
    if (options.queue !== undefined && options.queue !== queue) return 'skip';
    const reason = 'unacked entry is not [envelope, exchange, routing_key]';
    const value_ = deadLetterRecord({ reason, queue, time: now, deliveryTag: tag, payload: value });
    return { tag, sha, value: value_, push: 'LPUSH', keys: [keys.deadLetterKey(queue)], status: 'dead-lettered', queues: [queue], reason };
  }
  const envelope = entry[0] as Record<string, unknown>;
  const exchange = typeof entry[1] === 'string' ? entry[1] : '';
  const routingKey = typeof entry[2] === 'string' ? entry[2] : '';
  markRedeliveredInPlace(envelope);
  const marked = JSON.stringify(envelope);
  const routeKey = `${exchange}\0${routingKey}`;
  let route = resolved.get(routeKey);
  if (!route) {
    route = options.resolve(exchange, routingKey, marked);
    resolved.set(routeKey, route);
  }
  const decision = planRestore({ exchange, routingKey, queues: await route }, options.queue);
  if (decision.action === 'skip') return 'skip';
  if (decision.action === 'dead-letter') {
    const { queue, reason } = decision;
    const record = deadLetterRecord({ reason, queue, time: now, deliveryTag: tag, payload: envelopeBytes(value) });
    return { tag, sha, value: record, push: 'LPUSH', keys: [keys.deadLetterKey(queue)], status: 'dead-lettered', queues: [queue], reason };
  }
  const { queues } = decision;
  const priority = clampPriority((envelope.properties as Record<string, unknown> | undefined)?.priority);
  const targetKeys = queues.map((q) => (options.target === 'priority' ? keys.queueKeyForPriority(q, priority) : keys.queueKey(q)));
  return { tag, sha, value: marked, push: 'RPUSH', keys: targetKeys, status: 'restored', queues };
}

/**
 * One restore-batch script call over `items`: per item 1 restored, 0 gone, -1 changed since read;
 * 'lost' when `token` is set and the lock is no longer ours.
 */
export async function runBatch(client: Redis, keys: RedisKeys, token: string, items: readonly PlannedItem[]): Promise<number[] | 'lost'> {
  const extra: string[] = [];
  const index = new Map<string, number>();
  const args: (string | number)[] = [token, '1'];
  for (const item of items) {
    args.push(item.tag, item.sha, item.value, item.push, item.keys.length);
    for (const key of item.keys) {
      let at = index.get(key);
      if (at === undefined) {
        extra.push(key);
        at = extra.length + 3;
        index.set(key, at);
      }
      args.push(at);
    }
  }
  const allKeys = [keys.unacked, keys.unackedIndex, keys.unackedMutex, ...extra];
  const fn = (client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)['kelpRestoreBatch'];
  if (typeof fn !== 'function') throw new Error('Lua script restoreBatch is not defined on this client (call defineScripts first)');
  const reply = await fn.apply(client, [allKeys.length, ...allKeys, ...args]);
  if (!Array.isArray(reply)) return 'lost';
  return reply.map(Number);
}

/** Restores (or with dryRun, counts) expired unacked entries batch by batch. */
export async function restoreInBatches(client: Redis, keys: RedisKeys, options: BatchRestoreOptions): Promise<BatchRestoreResult> {
  const batchSize = options.batchSize ?? DEFAULT_RESTORE_BATCH;
  const items: RestoredItem[] = [];
  const resolved = new Map<string, Promise<readonly string[]>>();
  let remaining = options.limit ?? Number.POSITIVE_INFINITY;
  // Entries left in place this run (other queues, changed under us) are skipped by offset.
  let offset = 0;
  const ceiling = options.ceiling.toFixed(6);
  while (remaining > 0) {
    throwIfAborted(options.signal);
    const token = randomBytes(16).toString('hex');
    if (!options.dryRun && !(await acquire(client, keys, token, options))) return { items, lockBusy: true };
    let released = options.dryRun === true;
    try {
      const count = Math.min(batchSize, remaining);
      const tags = await client.zrevrangebyscore(keys.unackedIndex, ceiling, '-inf', 'LIMIT', offset, count);
      if (tags.length === 0) break;
      remaining -= tags.length;
      const pageStart = offset;
      const values = await client.hmgetBuffer(keys.unacked, ...tags);
      const planned: PlannedItem[] = [];
      for (const [i, tag] of tags.entries()) {
        const value = values[i];
        if (value === null || value === undefined) {
          // Acked meanwhile: let the script drop the stale index member.
          if (!options.dryRun) planned.push({ tag, sha: '', value: '', push: 'RPUSH', keys: [], status: 'restored', queues: [] });
          continue;
        }
        const item = await plan(tag, value, keys, options, resolved);
        if (item === 'skip') offset++;
        else planned.push(item);
      }
      if (options.dryRun) {
        items.push(...planned.map(({ tag, status, queues, reason }) => ({ tag, status, queues, ...(reason === undefined ? {} : { reason }) })));
        // Nothing moved, so the next page starts right after this one.
        offset = pageStart + tags.length;
        continue;
      }
      const statuses = await runBatch(client, keys, token, planned);
      released = true;
      if (statuses === 'lost') {
        // The lock expired and another restorer took it; it will finish the work.
        return { items, lockBusy: true };
      }
      for (const [i, item] of planned.entries()) {
        const status = statuses[i];
        if (status === 1 && item.keys.length > 0) {
          items.push({ tag: item.tag, status: item.status, queues: item.queues, ...(item.reason === undefined ? {} : { reason: item.reason }) });
        } else if (status === -1) offset++;
      }
    } finally {
      if (!released) await releaseMutex(client, keys.unackedMutex, token).catch(() => undefined);
    }
  }
  return { items, lockBusy: false };
}


/**
 * Restores the one unacked entry `tag` now, whatever its age (the dashboard's "restore this
 * message"): under `unacked_mutex` like a batch, with the same compare-and-swap, so a Python or
 * kelp restorer running at the same time never pushes it twice. Undefined when the entry is gone
 * (acked or restored meanwhile) or changed under us.
 */
export async function restoreOne(
  client: Redis,
  keys: RedisKeys,
  tag: string,
  options: Pick<BatchRestoreOptions, 'resolve' | 'target' | 'lock' | 'wallClock' | 'signal'>,
): Promise<RestoredItem | undefined | 'busy'> {
  throwIfAborted(options.signal);
  const token = randomBytes(16).toString('hex');
  if (!(await acquire(client, keys, token, { ...options, ceiling: 0 }))) return 'busy';
  let released = false;
  try {
    const [value] = await client.hmgetBuffer(keys.unacked, tag);
    if (value === null || value === undefined) return undefined;
    const item = await plan(tag, value, keys, options, new Map());
    if (item === 'skip') return undefined;
    const statuses = await runBatch(client, keys, token, [item]);
    released = true;
    if (statuses === 'lost' || statuses[0] !== 1) return undefined;
    return { tag, status: item.status, queues: item.queues, ...(item.reason === undefined ? {} : { reason: item.reason }) };
  } finally {
    if (!released) await releaseMutex(client, keys.unackedMutex, token).catch(() => undefined);
  }
}
