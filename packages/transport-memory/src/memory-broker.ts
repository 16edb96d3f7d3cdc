/**
 * The in-process broker behind `memory://name`: queue lists split by priority step, binding rows
 * per exchange, an unacked store shaped like Redis's (`tag -> [envelope, exchange, routingKey]`
 * plus the delivery time), and dead-letter lists, and the queue arguments it enforces where
 * messages are stored and taken (`x-message-ttl`, length limits). Every connection to the same
 * name shares one broker object; nothing lives in module globals.
 */
import { Buffer } from 'node:buffer';
import type { BindingRow, ExpiryHandling, LengthLimits, RestoreOutcome, RouteResolver } from '@kelp/virtual';
import {
  BrokerState,
  DEFAULT_PRIORITY_STEPS,
  EXPIRED_REASON,
  markRedelivered,
  MAXLEN_REASON,
  payloadDeadline,
  priorityStep,
  QueueLimitRefusal,
  queueLengthLimits,
  queueExpires,
  queueMessageTtl,
  readAckInfo,
  withDeadline,
} from '@kelp/virtual';
import { DelayedSets, type DelayedEntry } from './delayed-sets.js';
import { Deque } from './deque.js';
import { MemoryUnackedRecords, routeOf, type MemoryUnackedEntry } from './memory-unacked.js';

export type { MemoryUnackedEntry } from './memory-unacked.js';

export interface MemoryBrokerOptions {
  /** Broker name (the `memory://<name>` part); shown in NOT_FOUND messages. */
  name?: string;
  /** Priority sub-list steps; every connection to the broker uses these ([0, 3, 6, 9]). */
  prioritySteps?: readonly number[];
  /** Wall-clock seconds (like Redis's `unacked_index` scores). Tests pass a fake clock. */
  now?: () => number;
}

/** A message taken from a queue, with the tag it was recorded under (none when noAck or tagless). */
export interface TakenMessage {
  payload: string;
  deliveryTag?: string;
}

export interface DeadLetterEntry {
  payload: string;
  reason: string;
  at: number;
}

/** A queue's lists, one per priority step, read in ascending step order. */
type QueueLists = Map<number, Deque<string>>;

export class MemoryBroker {
  readonly name: string;
  readonly prioritySteps: readonly number[];
  /** Exchange declarations, shared by every connection to this broker (as Kombu's memory transport does). */
  readonly state: BrokerState;
  private readonly now: () => number;
  private readonly queues = new Map<string, QueueLists>();
  private readonly bindings = new Map<string, Map<string, BindingRow>>();
  private readonly unacked: MemoryUnackedRecords;
  private readonly deadLetters = new Map<string, DeadLetterEntry[]>();
  /** `x-message-ttl` (ms) of the queues declared with one. */
  private readonly messageTtls = new Map<string, number>();
  /** Length limits of the queues declared with them (queue-limits.ts). */
  private readonly limits = new Map<string, LengthLimits>();
  /** Messages dropped per queue and reason (e.g. expired without dead-letter routing). */
  private readonly dropped = new Map<string, Map<string, number>>();
  private readonly listeners = new Set<() => void>();
  /** `x-expires` (ms) of the queues declared with one, and when each was last used (epoch ms). */
  private readonly expires = new Map<string, number>();
  private readonly lastUsed = new Map<string, number>();
  /** Delayed messages per queue, earliest due first (the Redis transport's `_kelp.delayed.<q>`). */
  private readonly delayed = new DelayedSets();

  constructor(options: MemoryBrokerOptions = {}) {
    this.name = options.name ?? 'default';
    this.prioritySteps = [...(options.prioritySteps ?? DEFAULT_PRIORITY_STEPS)].sort((a, b) => a - b);
    this.now = options.now ?? (() => Date.now() / 1000);
    this.unacked = new MemoryUnackedRecords(this.now);
    this.state = new BrokerState(this.name);
  }

  /** Called after every write that may make a message available; returns an unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private lists(queue: string, create: true): QueueLists;
  private lists(queue: string, create: false): QueueLists | undefined;
  private lists(queue: string, create: boolean): QueueLists | undefined {
    let lists = this.queues.get(queue);
    if (!lists && create) {
      lists = new Map(this.prioritySteps.map((step) => [step, new Deque<string>()]));
      this.queues.set(queue, lists);
    }
    return lists;
  }

  private listFor(queue: string, priority: number): Deque<string> {
    const lists = this.lists(queue, true);
    const step = priorityStep(priority, this.prioritySteps);
    let list = lists.get(step);
    if (!list) {
      list = new Deque<string>();
      lists.set(step, list);
    }
    return list;
  }

  // ---- queues ----------------------------------------------------------------------------------

  /**
   * Creates the queue. `args` (the queue arguments) replace the TTL and limits an earlier
   * declaration set; a declaration without arguments keeps them.
   */
  declareQueue(queue: string, args?: Readonly<Record<string, unknown>>): void {
    this.expireIdle();
    this.lists(queue, true);
    // A declaration is use of the queue (x-expires), as on RabbitMQ.
    this.touch(queue);
    if (args === undefined || Object.keys(args).length === 0) return;
    const ttl = queueMessageTtl(args);
    const limits = queueLengthLimits(args);
    const expires = queueExpires(args);
    if (expires === undefined) this.expires.delete(queue);
    else {
      this.expires.set(queue, expires);
      this.touch(queue);
    }
    if (ttl === undefined) this.messageTtls.delete(queue);
    else this.messageTtls.set(queue, ttl);
    if (limits === undefined) this.limits.delete(queue);
    else this.limits.set(queue, limits);
  }

  hasQueue(queue: string): boolean {
    this.expireIdle();
    return this.queues.has(queue);
  }

  /** Stores at the back of the queue's priority list (Kombu `_put`, LPUSH). Creates the queue. */
  /** Throws QueueLimitRefusal when the queue is full and refuses publishes (`reject-publish`). */
  put(queue: string, payload: string, priority: number): void {
    this.expireIdle();
    const ttl = this.messageTtls.get(queue);
    const stored = ttl === undefined ? payload : withDeadline(payload, this.now() * 1000 + ttl);
    const limits = this.limits.get(queue);
    if (limits?.overflow === 'reject-publish' && !this.fits(queue, limits, 1, Buffer.byteLength(stored))) {
      throw new QueueLimitRefusal([], [queue]);
    }
    this.listFor(queue, priority).pushBack(stored);
    if (limits?.overflow === 'drop-head') this.dropHeads(queue, limits);
    this.notify();
  }

  /** Whether `queue` stays within `limits` with `count` more messages of `bytes` more bytes. */
  private fits(queue: string, limits: LengthLimits, count: number, bytes: number): boolean {
    if (limits.maxLength !== undefined && this.size(queue) + count > limits.maxLength) return false;
    return limits.maxLengthBytes === undefined || this.storedBytes(queue) + bytes <= limits.maxLengthBytes;
  }

  /** UTF-8 bytes of the waiting envelopes of `queue`, as stored. */
  private storedBytes(queue: string): number {
    let bytes = 0;
    for (const list of this.lists(queue, false)?.values() ?? []) for (const payload of list.toArray()) bytes += Buffer.byteLength(payload);
    return bytes;
  }

  /** drop-head: the next messages to be consumed go until the queue is within its limits. */
  private dropHeads(queue: string, limits: LengthLimits): void {
    while (!this.fits(queue, limits, 0, 0)) {
      const head = this.get(queue, true);
      if (head === undefined) return;
      if (limits.deadLetter) this.deadLetter(queue, head, MAXLEN_REASON);
      else this.countDropped(queue, MAXLEN_REASON);
    }
  }

  /** Stores at the head (consumed next), as a restore's RPUSH does. */
  putFront(queue: string, payload: string, priority: number): void {
    this.listFor(queue, priority).pushFront(payload);
    this.notify();
  }

  /**
   * Pops the next message, lowest step first; unless noAck, records it unacked in the same step.
   * Messages whose TTL has passed are settled on the way (`expiry`; dropped when absent).
   */
  get(queue: string, noAck: boolean, expiry?: ExpiryHandling): string | undefined {
    return this.take(queue, noAck, expiry)?.payload;
  }

  /** {@link get}, also saying which tag the message was recorded under. */
  take(queue: string, noAck: boolean, expiry?: ExpiryHandling): TakenMessage | undefined {
    this.expireIdle();
    const lists = this.lists(queue, false);
    if (!lists) return undefined;
    // The lists were created in ascending step order, so Map order is read order.
    for (const list of lists.values()) {
      let payload = list.popFront();
      while (payload !== undefined && this.expired(payload)) {
        this.settleExpired(queue, payload, expiry);
        payload = list.popFront();
      }
      if (payload === undefined) continue;
      if (noAck) return { payload };
      const deliveryTag = this.unacked.recordTaken(payload);
      // Without a tag the message cannot be acked; the channel dead-letters it.
      return { payload, deliveryTag };
    }
    return undefined;
  }

  private expired(payload: string): boolean {
    const deadline = payloadDeadline(payload);
    return deadline !== undefined && deadline <= this.now() * 1000;
  }

  private settleExpired(queue: string, payload: string, expiry: ExpiryHandling | undefined): void {
    const deadLettered = expiry?.deadLetters(queue) === true;
    if (deadLettered) this.deadLetter(queue, payload, EXPIRED_REASON);
    else this.countDropped(queue, EXPIRED_REASON);
    expiry?.report({ queue, deadLettered });
  }

  countDropped(queue: string, reason: string): void {
    let counts = this.dropped.get(queue);
    if (!counts) {
      counts = new Map();
      this.dropped.set(queue, counts);
    }
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }

  /** Messages of `queue` dropped so far, by reason. */
  droppedCounts(queue: string): Record<string, number> {
    return Object.fromEntries(this.dropped.get(queue) ?? []);
  }

  size(queue: string): number {
    this.expireIdle();
    let n = 0;
    for (const list of this.lists(queue, false)?.values() ?? []) n += list.length;
    return n;
  }

  /** Empties the queue's lists and its delayed messages; resolves with how many went. */
  purge(queue: string): number {
    this.expireIdle();
    const n = this.size(queue) + this.delayedCount(queue);
    for (const list of this.lists(queue, false)?.values() ?? []) list.clear();
    this.delayed.delete(queue);
    return n;
  }

  /** `queue` was used now (a get, a consumer): with x-expires it stays for that long again. */
  touch(queue: string): void {
    if (this.expires.has(queue)) this.lastUsed.set(queue, this.now() * 1000);
  }

  /**
   * Deletes the queues declared with x-expires that nobody used for that long, with their
   * messages, delayed messages, dead letters and arguments (bindings stay, as on Redis). Run
   * lazily by every operation that reads a queue, so no timer is needed.
   */
  private expireIdle(): void {
    if (this.expires.size === 0) return;
    const now = this.now() * 1000;
    for (const [queue, expires] of [...this.expires]) {
      if ((this.lastUsed.get(queue) ?? now) + expires > now) continue;
      this.deleteQueue(queue);
      this.deadLetters.delete(queue);
    }
  }

  deleteQueue(queue: string): void {
    this.expires.delete(queue);
    this.lastUsed.delete(queue);
    this.queues.delete(queue);
    this.delayed.delete(queue);
    this.messageTtls.delete(queue);
    this.limits.delete(queue);
    this.dropped.delete(queue);
  }

  /** The waiting payloads of `queue`, next-to-consume first, step by step (for tests and tools). */
  peek(queue: string): string[] {
    this.expireIdle();
    const lists = this.lists(queue, false);
    if (!lists) return [];
    return [...lists.keys()].sort((a, b) => a - b).flatMap((step) => lists.get(step)?.toArray() ?? []);
  }

  queueNames(): string[] {
    this.expireIdle();
    return [...this.queues.keys()];
  }

  // ---- delayed delivery ------------------------------------------------------------------------

  /** Keeps `payload` for every queue in `queues` until `dueAt` (epoch ms). */
  putDelayed(queues: readonly string[], payload: string, priority: number, dueAt: number): void {
    for (const queue of queues) this.delayed.add(queue, { dueAt, payload, priority });
  }

  /**
   * Moves up to `max` messages due at `nowMs` to the back of their queues, earliest due first,
   * as a publish at this moment would store them (queue TTL, length limits: a queue that refuses
   * it dead-letters or drops and counts it with the reason `maxlen`).
   */
  moveDue(nowMs: number, max: number): { moved: number; nextDueAt: number | undefined } {
    this.expireIdle();
    let moved = 0;
    while (moved < max) {
      const due = this.delayed.takeDue(nowMs);
      if (!due) break;
      this.moveOne(due.queue, due.entry);
      moved++;
    }
    return { moved, nextDueAt: this.delayed.nextDueAt() };
  }

  private moveOne(queue: string, entry: DelayedEntry): void {
    try {
      this.put(queue, entry.payload, entry.priority);
    } catch (error) {
      if (!(error instanceof QueueLimitRefusal)) throw error;
      if (this.limits.get(queue)?.deadLetter === true) this.deadLetter(queue, entry.payload, MAXLEN_REASON);
      else this.countDropped(queue, MAXLEN_REASON);
    }
  }

  /** Delayed messages of `queue` not yet moved into it. */
  delayedCount(queue: string): number {
    return this.delayed.count(queue);
  }

  /** Delayed messages of `queue` due at `nowMs`. */
  dueCount(queue: string, nowMs: number): number {
    return this.delayed.dueCount(queue, nowMs);
  }

  /** The earliest due time (epoch ms) of `queue`'s delayed messages, or of every queue's. */
  nextDueAt(queue?: string): number | undefined {
    return this.delayed.nextDueAt(queue);
  }

  /** Queues with delayed messages. */
  delayedQueues(): string[] {
    this.expireIdle();
    return this.delayed.queues();
  }

  // ---- bindings --------------------------------------------------------------------------------

  getTable(exchange: string): BindingRow[] {
    return [...(this.bindings.get(exchange)?.values() ?? [])].map((row) => ({ ...row }));
  }

  addBinding(exchange: string, row: BindingRow): void {
    let rows = this.bindings.get(exchange);
    if (!rows) {
      rows = new Map();
      this.bindings.set(exchange, rows);
    }
    rows.set(`${row.routingKey}\0${row.pattern}\0${row.queue}`, { ...row });
  }

  removeBinding(exchange: string, row: BindingRow): void {
    const rows = this.bindings.get(exchange);
    rows?.delete(`${row.routingKey}\0${row.pattern}\0${row.queue}`);
    if (rows?.size === 0) this.bindings.delete(exchange);
  }

  // ---- unacked store ---------------------------------------------------------------------------

  recordUnacked(tag: string, envelope: string, exchange: string, routingKey: string): void {
    this.unacked.record(tag, envelope, exchange, routingKey);
  }

  ack(tags: readonly string[]): void {
    this.unacked.ack(tags);
  }

  unackedEntry(tag: string): MemoryUnackedEntry | undefined {
    return this.unacked.entry(tag);
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  /** Moves the entry's delivery time so it stays invisible for `seconds` more under `visibilityTimeout`. */
  extend(tag: string, seconds: number, visibilityTimeout: number): void {
    this.unacked.extend(tag, seconds, visibilityTimeout);
  }

  /**
   * Kombu `restore_by_tag`: removes the entry first (so a concurrent restore finds nothing and
   * cannot duplicate it), then pushes the redelivery-marked envelope to every resolved queue:
   * at the back when `leftmost`, else at the head. The priority sub-list is kept (Kombu HEAD).
   */
  async restore(tag: string, leftmost: boolean, resolve: RouteResolver): Promise<RestoreOutcome> {
    const record = this.unacked.remove(tag);
    if (!record) return { status: 'missing', deliveryTag: tag };
    const marked = markRedelivered(record.envelope);
    const { exchange, routingKey } = routeOf(record);
    let queues: readonly string[];
    try {
      queues = await resolve(exchange, routingKey, marked);
    } catch (error) {
      // The lookup failed: keep the message unacked so a later restore can try again.
      this.unacked.putBack(tag, record);
      throw error;
    }
    if (queues.length === 0) {
      return { status: 'unroutable', deliveryTag: tag, envelope: marked, exchange, routingKey };
    }
    const priority = readAckInfo(marked)?.priority ?? 0;
    for (const queue of queues) {
      if (leftmost) this.listFor(queue, priority).pushBack(marked);
      else this.listFor(queue, priority).pushFront(marked);
    }
    this.notify();
    return { status: 'restored', deliveryTag: tag, queues };
  }

  /**
   * Kombu `restore_visible`: restores (to the head) every entry delivered more than
   * `visibilityTimeout` seconds ago, newest first like ZREVRANGEBYSCORE, so the oldest ends up
   * next in line.
   */
  async restoreVisible(visibilityTimeout: number, resolve: RouteResolver): Promise<RestoreOutcome[]> {
    const expired = this.unacked.olderThan(visibilityTimeout);
    const outcomes: RestoreOutcome[] = [];
    for (const tag of expired) outcomes.push(await this.restore(tag, false, resolve));
    return outcomes;
  }

  // ---- dead letters ----------------------------------------------------------------------------

  deadLetter(queue: string, payload: string, reason: string): void {
    let list = this.deadLetters.get(queue);
    if (!list) {
      list = [];
      this.deadLetters.set(queue, list);
    }
    list.push({ payload, reason, at: this.now() });
  }

  /** Dead-lettered messages of `queue`, oldest first. */
  deadLettered(queue: string): readonly DeadLetterEntry[] {
    return [...(this.deadLetters.get(queue) ?? [])];
  }

  /**
   * Moves the unacked record of `tag` to the dead-letter list of `queue` (default: the routing
   * key, else the exchange, of its envelope); undefined when there is no record.
   */
  deadLetterUnacked(tag: string, queue: string | undefined, reason: string): { queue: string } | undefined {
    const record = this.unacked.remove(tag);
    if (!record) return undefined;
    const route = queue === undefined ? routeOf(record) : undefined;
    const target = queue ?? (route?.routingKey || route?.exchange || '');
    this.deadLetter(target, record.envelope, reason);
    return { queue: target };
  }

  // ---- for the admin hooks (memory-admin.ts) ---------------------------------------------

  /** Every unacked entry with its tag. */
  unackedEntries(): Array<[string, MemoryUnackedEntry]> {
    return this.unacked.entries();
  }

  /** Exchanges that have at least one binding row. */
  boundExchanges(): string[] {
    return [...this.bindings.keys()];
  }

  /** Waiting messages of `queue` per priority step (steps with none included). */
  stepSizes(queue: string): Map<number, number> {
    return new Map([...(this.lists(queue, false) ?? new Map<number, Deque<string>>())].map(([step, list]) => [step, list.length]));
  }

  /** Queues with a dead-letter list. */
  deadLetterQueues(): string[] {
    return [...this.deadLetters].filter(([, list]) => list.length > 0).map(([queue]) => queue);
  }

  /**
   * Replaces the dead letter `entry` of `queue` with `payload` at the back of the queue, in one
   * step; false when that dead letter is no longer in the list.
   */
  requeueDeadLetter(queue: string, entry: DeadLetterEntry, payload: string, priority: number): boolean {
    const list = this.deadLetters.get(queue);
    const at = list?.indexOf(entry) ?? -1;
    if (!list || at < 0) return false;
    list.splice(at, 1);
    this.put(queue, payload, priority);
    return true;
  }

  /** The `step` sub-list of `queue` (next to be consumed first), for the admin hooks. */
  stepList(queue: string, step: number): Deque<string> | undefined {
    return this.lists(queue, false)?.get(step);
  }

  /** Removes the dead letter `entry` of `queue`; false when it is no longer there. */
  removeDeadLetter(queue: string, entry: DeadLetterEntry): boolean {
    const list = this.deadLetters.get(queue);
    const at = list?.indexOf(entry) ?? -1;
    if (!list || at < 0) return false;
    list.splice(at, 1);
    return true;
  }

  /** Wall-clock seconds of this broker's clock. */
  clock(): number {
    return this.now();
  }
}
