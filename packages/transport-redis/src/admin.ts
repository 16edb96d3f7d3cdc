/**
 * Operator tools on a Redis db (`transport.admin`, used by `kelp inspect`, `kelp restore` and
 * `kelp dead-letters`). Everything is read from the keys themselves, so it works on what Python
 * Kombu or Celery wrote: exchanges from the `_kombu.binding.*` sets (SCAN), queues from those
 * bindings, the `unacked` hash and the dead-letter lists. Exchange types are not stored in Redis
 * (docs/wire-format.md#exchange-state), so a restore routes as a direct exchange unless a binding
 * carries a topic pattern.
 */
import { Buffer } from 'node:buffer';
import type {
  DeadLetterEntry,
  InspectExchange,
  InspectQueue,
  InspectReport,
  RestoreOptions,
  RestoreReport,
  TransportAdmin,
} from '@kelp/core';
import { ConfigurationError, OperationalError, throwIfAborted } from '@kelp/core';
import { type BindingRow, DELIVERY_COUNT_HEADER, TopicPatternCache, parseEnvelope, routeTable } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import { entryBytes, readDeadLetterRecord, utf8OrUndefined } from './dead-letters.js';
import { DEAD_LETTER_SUFFIX, type RedisKeys } from './keys.js';
import type { RedisTransportOptions } from './options.js';
import { type QueueResolver, restoreInBatches } from './restore-batches.js';

export interface RedisAdminContext {
  /** Connects the transport if needed and returns its command connection. */
  client(): Promise<Redis>;
  readonly keys: RedisKeys;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds. */
  readonly wallClock: () => number;
}

/** How long `restore` waits for a busy unacked_mutex before each batch. */
const LOCK_WAIT_MS = 30_000;
const SCAN_COUNT = 1000;

/** Escapes Redis glob metacharacters so a prefix or name matches literally. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

async function scanKeys(client: Redis, pattern: string, signal?: AbortSignal, type?: 'list'): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    throwIfAborted(signal);
    const [next, keys] =
      type === undefined
        ? await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
        : await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT, 'TYPE', type);
    for (const key of keys) found.add(key);
    cursor = next;
  } while (cursor !== '0');
  return [...found];
}

export class RedisAdmin implements TransportAdmin {
  constructor(private readonly ctx: RedisAdminContext) {}

  private get keys(): RedisKeys {
    return this.ctx.keys;
  }

  /** Routing as a restorer without exchange declarations sees it: direct, or topic when patterns exist. */
  private resolver(client: Redis): QueueResolver {
    const tables = new Map<string, Promise<BindingRow[]>>();
    const topics = new TopicPatternCache();
    return async (exchange, routingKey) => {
      if (exchange === '') return routingKey === '' ? [] : [routingKey];
      let table = tables.get(exchange);
      if (!table) {
        table = this.table(client, exchange);
        tables.set(exchange, table);
      }
      const rows = await table;
      return routeTable(rows.some((row) => row.pattern !== '') ? 'topic' : 'direct', rows, routingKey, topics);
    };
  }

  private async table(client: Redis, exchange: string): Promise<BindingRow[]> {
    const rows: BindingRow[] = [];
    for (const member of await client.smembers(this.keys.bindingKey(exchange))) {
      const row = this.keys.parseBindingMember(member);
      if (row) rows.push(row);
    }
    return rows;
  }

  async inspect(options: { signal?: AbortSignal } = {}): Promise<InspectReport> {
    const client = await this.ctx.client();
    const { keys } = this;
    const bindingPrefix = keys.bindingKey('');
    const exchanges: InspectExchange[] = [];
    const queueNames = new Set<string>();
    for (const key of (await scanKeys(client, `${globEscape(bindingPrefix)}*`, options.signal)).sort()) {
      const name = key.slice(bindingPrefix.length);
      const rows = await this.table(client, name);
      for (const row of rows) queueNames.add(row.queue);
      exchanges.push({
        name,
        type: rows.some((row) => row.pattern !== '') ? 'topic' : 'unknown',
        bindings: rows.map((row) => ({ queue: row.queue, routingKey: row.routingKey, ...(row.pattern ? { pattern: row.pattern } : {}) })),
      });
    }
    const unacked = await this.unackedByQueue(client, options.signal);
    for (const queue of unacked.keys()) queueNames.add(queue);
    const deadSuffix = `${keys.sep}${DEAD_LETTER_SUFFIX}`;
    // Queues fed through the default exchange have no binding: every list is a queue (or a
    // priority sub-list, or a dead-letter list). SCAN TYPE needs Redis >= 6; older servers
    // only show queues known from bindings and unacked entries.
    const lists = await scanKeys(client, `${globEscape(keys.prefix)}*`, options.signal, 'list').catch(() => [] as string[]);
    for (const key of lists) {
      const name = keys.stripPrefix(key);
      queueNames.add(name.endsWith(deadSuffix) ? name.slice(0, -deadSuffix.length) : keys.queueFromKey(key));
    }
    const queues: InspectQueue[] = [];
    const now = this.ctx.wallClock();
    for (const name of [...queueNames].sort()) {
      throwIfAborted(options.signal);
      const pipeline = client.pipeline();
      for (const step of keys.steps) pipeline.llen(keys.queueKey(name, step));
      pipeline.llen(keys.deadLetterKey(name));
      const replies = ((await pipeline.exec()) ?? []).map(([, n]) => Number(n ?? 0));
      const priorityLengths: Record<string, number> = {};
      keys.steps.forEach((step, i) => {
        if ((replies[i] ?? 0) > 0) priorityLengths[String(step)] = replies[i] ?? 0;
      });
      const stats = unacked.get(name);
      queues.push({
        name,
        length: replies.slice(0, keys.steps.length).reduce((a, b) => a + b, 0),
        priorityLengths,
        unacked: stats?.count ?? 0,
        // An ETA message is scored at its due time, possibly in the future: its age is 0 until then.
        oldestUnackedAge: stats?.oldest === undefined ? null : Math.max(0, now - stats.oldest),
        deadLetters: replies[keys.steps.length] ?? 0,
      });
    }
    const unackedTotal = await client.hlen(keys.unacked);
    return { exchanges, queues, unackedTotal, visibilityTimeout: this.ctx.options.visibilityTimeout };
  }

  /** Unacked entries per queue (routed as a restore would route them) with the oldest score. */
  private async unackedByQueue(client: Redis, signal?: AbortSignal): Promise<Map<string, { count: number; oldest: number | undefined }>> {
    const scores = new Map<string, number>();
    let cursor = '0';
    do {
      throwIfAborted(signal);
      const [next, flat] = await client.zscan(this.keys.unackedIndex, cursor, 'COUNT', SCAN_COUNT);
      for (let i = 0; i + 1 < flat.length; i += 2) scores.set(flat[i] as string, Number(flat[i + 1]));
      cursor = next;
    } while (cursor !== '0');
    const resolve = this.resolver(client);
    const byQueue = new Map<string, { count: number; oldest: number | undefined }>();
    cursor = '0';
    do {
      throwIfAborted(signal);
      const [next, flat] = await client.hscan(this.keys.unacked, cursor, 'COUNT', SCAN_COUNT);
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const tag = flat[i] as string;
        for (const queue of await this.queuesOfEntry(flat[i + 1] as string, resolve)) {
          const stats = byQueue.get(queue) ?? { count: 0, oldest: undefined };
          stats.count++;
          const score = scores.get(tag);
          if (score !== undefined && (stats.oldest === undefined || score < stats.oldest)) stats.oldest = score;
          byQueue.set(queue, stats);
        }
      }
      cursor = next;
    } while (cursor !== '0');
    return byQueue;
  }

  private async queuesOfEntry(value: string, resolve: QueueResolver): Promise<readonly string[]> {
    try {
      const entry: unknown = JSON.parse(value);
      if (!Array.isArray(entry)) return [];
      const exchange = typeof entry[1] === 'string' ? entry[1] : '';
      const routingKey = typeof entry[2] === 'string' ? entry[2] : '';
      const queues = await resolve(exchange, routingKey, '');
      return queues.length > 0 ? queues : [routingKey || exchange];
    } catch {
      return [];
    }
  }

  async restore(options: RestoreOptions = {}): Promise<RestoreReport> {
    const olderThan = options.olderThan ?? this.ctx.options.visibilityTimeout;
    if (!Number.isFinite(olderThan) || olderThan < 0) {
      throw new ConfigurationError(`restore: olderThan is a number of seconds >= 0, not ${String(olderThan)}`, { option: 'olderThan' });
    }
    const client = await this.ctx.client();
    const dryRun = options.dryRun === true;
    const { items, lockBusy } = await restoreInBatches(client, this.keys, {
      ceiling: this.ctx.wallClock() - olderThan,
      ...(options.queue === undefined ? {} : { queue: options.queue }),
      dryRun,
      resolve: this.resolver(client),
      target: this.ctx.options.restoreTarget,
      lock: { expireMs: Math.round(this.ctx.options.unackedMutexExpire * 1000), waitMs: LOCK_WAIT_MS },
      wallClock: this.ctx.wallClock,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (lockBusy && items.length === 0) {
      throw new OperationalError(`restore: ${this.keys.unackedMutex} stayed held by another restorer for ${LOCK_WAIT_MS / 1000} s; try again`);
    }
    const restored = new Map<string, number>();
    const dead = new Map<string, number>();
    let total = 0;
    for (const item of items) {
      const counts = item.status === 'restored' ? restored : dead;
      if (item.status === 'restored') total++;
      for (const queue of item.queues) counts.set(queue, (counts.get(queue) ?? 0) + 1);
    }
    const list = (map: Map<string, number>) => [...map].sort(([a], [b]) => a.localeCompare(b)).map(([queue, count]) => ({ queue, count }));
    return { dryRun, olderThan, restored: list(restored), total, ...(dead.size > 0 ? { deadLettered: list(dead) } : {}) };
  }

  /** The dead letters of `queue`, oldest first. */
  async deadLetters(queue: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<DeadLetterEntry[]> {
    throwIfAborted(options.signal);
    const client = await this.ctx.client();
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const start = Number.isFinite(limit) ? -Math.max(1, Math.floor(limit)) : 0;
    const raw = await client.lrangeBuffer(this.keys.deadLetterKey(queue), start, -1);
    return raw.reverse().map((record) => readDeadLetterRecord(record, queue, this.keys));
  }

  /**
   * Puts dead letters that are valid envelopes back at the back of `queue` (oldest first), each
   * moved atomically; others stay where they are and are counted as skipped. The redelivery
   * count is reset so a redelivery limit does not send them straight back.
   */
  async requeueDeadLetters(queue: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<{ requeued: number; skipped: number }> {
    const client = await this.ctx.client();
    const deadKey = this.keys.deadLetterKey(queue);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    let requeued = 0;
    let skipped = 0;
    const records = (await client.lrangeBuffer(deadKey, 0, -1)).reverse();
    for (const record of records) {
      if (requeued >= limit) break;
      throwIfAborted(options.signal);
      const envelope = requeueableEnvelope(entryBytes(readDeadLetterRecord(record, queue, this.keys)));
      if (!envelope) {
        skipped++;
        continue;
      }
      const target = this.keys.queueKeyForPriority(queue, envelope.priority);
      const fn = (client as unknown as Record<string, (...a: (string | Buffer)[]) => Promise<unknown>>)['kelpMoveDeadLetter'];
      if (typeof fn !== 'function') throw new Error('Lua script moveDeadLetter is not defined on this client (call defineScripts first)');
      if (Number(await fn.apply(client, [deadKey, target, record, envelope.json])) === 1) requeued++;
    }
    return { requeued, skipped };
  }
}

/** The envelope to requeue (redelivery count removed), or undefined when it is not a valid one. */
export function requeueableEnvelope(bytes: Buffer): { json: string; priority: number } | undefined {
  const text = utf8OrUndefined(bytes);
  if (text === undefined) return undefined;
  const parsed = parseEnvelope(text);
  if (!parsed.ok) return undefined;
  const data = JSON.parse(text) as Record<string, unknown>;
  const headers = data['headers'];
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) delete (headers as Record<string, unknown>)[DELIVERY_COUNT_HEADER];
  return { json: JSON.stringify(data), priority: parsed.envelope.priority };
}
