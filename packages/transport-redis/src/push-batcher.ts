/**
 * The publish side of the route-and-push script: one call per channel and tick (or per
 * {@link PUSHES_PER_CALL} publishes, whichever comes first).
 */
import { ChannelError } from '@kelp/core';
import { QueueLimitRefusal } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { QueuePolicyNames } from './keys.js';
import { call, type Arg } from './scripts.js';

/**
 * Publishes per `routeAndPush` call. A call goes out as soon as it is full instead of waiting for
 * the end of the tick, so Redis stores one part of a burst while the client still encodes the
 * next (a burst of 1000 publishes as one call left Redis idle while the client encoded, and the
 * client idle while Redis pushed). Also bounds how long one call holds the server.
 */
const PUSHES_PER_CALL = 128;

type Mode = 'q' | 'd' | 't';

/** One publish waiting for its `routeAndPush` call. */
interface PendingPush {
  /**
   * 'q': push to `target` (a queue); 'd': route by `routingKey` over binding set `target`;
   * 't': push to the queues JSON-encoded in `routingKey` if set `target` is unchanged.
   */
  mode: Mode;
  target: string;
  routingKey: string;
  suffix: string;
  envelope: string;
  /** Known to hold no newline (built by encodeEnvelope: compact JSON), so not searched for one. */
  compact: boolean;
  resolve: (reply: never) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces the pushes (and direct-exchange and checked topic publishes) of one tick into
 * `routeAndPush` script calls (route-and-push-0.lua). One per channel, so a channel's publishes
 * reach Redis in the order they were issued (AMQP orders per channel too). Consecutive
 * publishes to the same destination travel as one run (one payload, one LPUSH per queue), and
 * each distinct destination is sent and answered once per call. Each publish settles from its
 * destination's result: a push that failed (e.g. WRONGTYPE) fails only the publishes it
 * carried, with the error `wrapError` makes of it.
 */
export class PushBatcher {
  private pending: PendingPush[] = [];
  private scheduled = false;
  /** Mode 't' of the pending call: binding set key -> the members its queues were matched with. */
  private tables = new Map<string, readonly string[]>();
  /** The optional argument after the last payload: the drop-count separator (sharded layout only). */
  private readonly perQueueDrops: readonly string[];

  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly sep: string,
    /** What the script needs to apply queue arguments: RedisKeys.queuePolicyNames(). */
    private readonly policy: QueuePolicyNames,
    private readonly wrapError: (error: unknown) => Error,
  ) {
    this.perQueueDrops = policy.droppedQueueSeparator === undefined ? [] : [policy.droppedQueueSeparator];
  }

  /**
   * LPUSH `envelope` to `queue` + `suffix` (the priority sub-list). Any payload; `compact` says
   * it is JSON.stringify-style JSON (no raw newline), which spares a search through it.
   */
  push(queue: string, suffix: string, envelope: string, compact = false): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.enqueue({ mode: 'q', target: queue, routingKey: '', suffix, envelope, compact, resolve, reject });
    });
  }

  /**
   * Routes through a direct exchange's binding set and pushes; resolves with the queues reached.
   * `envelope` is compact JSON (encodeEnvelope's output).
   */
  routeDirect(bindingKey: string, routingKey: string, suffix: string, envelope: string): Promise<string[]> {
    return new Promise<string[]>((resolve, reject) => {
      this.enqueue({ mode: 'd', target: bindingKey, routingKey, suffix, envelope, compact: true, resolve, reject });
    });
  }

  /**
   * Pushes to `queues`, matched by the caller against `members` (its copy of binding set
   * `bindingKey`), only if the set still holds exactly those members when the push runs;
   * resolves 'stale' (nothing pushed) otherwise. `envelope` is compact JSON.
   */
  routeChecked(bindingKey: string, members: readonly string[], queues: readonly string[], suffix: string, envelope: string): Promise<string[] | 'stale'> {
    const known = this.tables.get(bindingKey);
    // One copy per set and call: a newer copy than the one already in this call waits for a retry.
    if (known !== undefined && known !== members) return Promise.resolve('stale');
    this.tables.set(bindingKey, members);
    return new Promise<string[] | 'stale'>((resolve, reject) => {
      this.enqueue({ mode: 't', target: bindingKey, routingKey: JSON.stringify(queues), suffix, envelope, compact: true, resolve, reject });
    });
  }

  private enqueue(item: PendingPush): void {
    const size = this.pending.push(item);
    if (size >= PUSHES_PER_CALL) {
      this.sendPending();
    } else if (!this.scheduled) {
      // nextTick: every publish issued by the current callback and its microtasks joins this call.
      this.scheduled = true;
      process.nextTick(() => {
        this.scheduled = false;
        if (this.pending.length > 0) this.sendPending();
      });
    }
  }

  private sendPending(): void {
    const items = this.pending;
    const tables = this.tables.size === 0 ? '{}' : JSON.stringify(Object.fromEntries(this.tables));
    this.pending = [];
    this.tables = new Map();
    const first = items[0] as PendingPush;
    if (items.length === 1 || items.every((item) => sameDestination(first, item) && !hasNewline(item))) {
      // One destination and one run: a single publish (publishes awaited one at a time), or a
      // burst to one queue or routing key. No index to build.
      const payload = items.length === 1 ? first.envelope : joinEnvelopes(items, 0, items.length);
      const plan = [1, items.length];
      this.sendCall(items, [this.prefix, this.sep, tables, this.policy.argumentsPrefix, Date.now(), this.policy.stepSuffixes, this.policy.deadLetterSuffix, this.policy.droppedPrefix, 1, first.mode, first.target, first.routingKey, first.suffix, `1,${items.length}`, payload, ...this.perQueueDrops], plan, [0]);
      return;
    }
    const destinations = new DestinationIndex();
    const fields: Arg[] = [];
    const plan: number[] = [];
    const payloads: string[] = [];
    /** Each run's destination (0-based) for settle, in run order. */
    const runDestinations: number[] = [];
    let i = 0;
    while (i < items.length) {
      const first = items[i] as PendingPush;
      let end = i + 1;
      // An envelope with a newline cannot share a run's "\n"-joined payload: it goes alone.
      if (!hasNewline(first)) {
        while (end < items.length && sameDestination(first, items[end] as PendingPush) && !hasNewline(items[end] as PendingPush)) end += 1;
      }
      const destination = destinations.indexOf(first, fields);
      runDestinations.push(destination);
      plan.push(destination + 1, end - i);
      payloads.push(end - i === 1 ? first.envelope : joinEnvelopes(items, i, end));
      i = end;
    }
    this.sendCall(items, [this.prefix, this.sep, tables, this.policy.argumentsPrefix, Date.now(), this.policy.stepSuffixes, this.policy.deadLetterSuffix, this.policy.droppedPrefix, destinations.size, ...fields, plan.join(','), ...payloads, ...this.perQueueDrops], plan, runDestinations);
  }

  private sendCall(items: readonly PendingPush[], args: Arg[], plan: readonly number[], runDestinations: readonly number[]): void {
    const failAll = (error: unknown): void => {
      for (const item of items) item.reject(error);
    };
    let reply: Promise<unknown>;
    try {
      reply = call(this.client, 'routeAndPush', args);
    } catch (error) {
      // A call that cannot even be issued (no script defined) fails these publishes, not the caller
      // whose publish happened to fill the batch.
      failAll(error);
      return;
    }
    reply.then((value) => this.settle(items, plan, runDestinations, value), failAll);
  }

  /** Settles each publish from its destination's result and the failed ranges (route-and-push-0.lua). */
  private settle(items: readonly PendingPush[], plan: readonly number[], runDestinations: readonly number[], reply: unknown): void {
    const entries = Array.isArray(reply) ? (reply as unknown[]) : [];
    const results = Array.isArray(entries[0]) ? (entries[0] as unknown[]) : undefined;
    // [first, last, error] triples (1-based over the call's publishes) for pushes that failed, or
    // that a full queue refused ("!rejected:<queue>").
    let failed: Map<number, Error> | undefined;
    let refused: Map<number, string[]> | undefined;
    for (let t = 1; t + 2 < entries.length; t += 3) {
      const status = entries[t + 2];
      if (typeof status === 'string' && status.startsWith(REJECTED)) {
        refused ??= new Map();
        const queues = refused.get(Number(entries[t])) ?? [];
        queues.push(status.slice(REJECTED.length));
        refused.set(Number(entries[t]), queues);
        continue;
      }
      const error = this.wrapError(status);
      failed ??= new Map();
      for (let n = Number(entries[t]); n <= Number(entries[t + 1]); n += 1) failed.set(n, error);
    }
    let k = 0;
    for (let r = 0; r < runDestinations.length; r += 1) {
      const count = plan[2 * r + 1] as number;
      const result = results?.[runDestinations[r] as number];
      for (const end = k + count; k < end; k += 1) {
        const item = items[k] as PendingPush;
        const error = failed?.get(k + 1);
        const rejected = refused?.get(k + 1);
        if (error) item.reject(error);
        else if (rejected) item.reject(new QueueLimitRefusal(reachedDespite(item.mode, result, rejected), rejected));
        else if (result === undefined || result instanceof Error) {
          item.reject(result instanceof Error ? this.wrapError(result) : new ChannelError('routeAndPush replied without a result for this message'));
        } else (item.resolve as (value: unknown) => void)(resultFor(item.mode, result));
      }
    }
  }
}

/**
 * The distinct destinations of one call, numbered in order of first use; their four fields
 * are appended to `fields` when first seen. Nested maps: no key string built per publish.
 */
class DestinationIndex {
  private readonly byMode = new Map<Mode, Map<string, Map<string, Map<string, number>>>>();
  size = 0;

  indexOf(item: PendingPush, fields: Arg[]): number {
    let byTarget = this.byMode.get(item.mode);
    if (!byTarget) this.byMode.set(item.mode, (byTarget = new Map()));
    let byKey = byTarget.get(item.target);
    if (!byKey) byTarget.set(item.target, (byKey = new Map()));
    let bySuffix = byKey.get(item.routingKey);
    if (!bySuffix) byKey.set(item.routingKey, (bySuffix = new Map()));
    let index = bySuffix.get(item.suffix);
    if (index === undefined) {
      index = this.size;
      this.size += 1;
      bySuffix.set(item.suffix, index);
      fields.push(item.mode, item.target, item.routingKey, item.suffix);
    }
    return index;
  }
}

const hasNewline = (item: PendingPush): boolean => !item.compact && item.envelope.includes('\n');

function sameDestination(a: PendingPush, b: PendingPush): boolean {
  return a.mode === b.mode && a.target === b.target && a.routingKey === b.routingKey && a.suffix === b.suffix;
}

/** One flat string (join builds it in one piece; `+=` would leave ioredis a rope to flatten). */
function joinEnvelopes(items: readonly PendingPush[], from: number, to: number): string {
  const envelopes: string[] = [];
  for (let k = from; k < to; k += 1) envelopes.push((items[k] as PendingPush).envelope);
  return envelopes.join('\n');
}

/** The status of a message a full queue refused (route-and-push-0.lua). */
const REJECTED = '!rejected:';

/** The queues a publish reached besides those that refused it. */
function reachedDespite(mode: Mode, result: unknown, rejected: readonly string[]): string[] {
  if (mode === 'q' || !Array.isArray(result)) return [];
  return (result as string[]).filter((queue) => !rejected.includes(queue));
}

/** What one publish resolves with; every publish gets its own array of queues. */
function resultFor(mode: Mode, result: unknown): unknown {
  if (mode === 'q') return undefined;
  if (mode === 't' && result === 'stale') return 'stale';
  return Array.isArray(result) ? (result as string[]).slice() : [];
}
