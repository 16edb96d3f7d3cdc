/**
 * The ONE place where Redis key and pub/sub channel names are built and parsed. Every name here
 * is a wire fact shared with Python Kombu 5.2.4 (docs/wire-format.md#keys); changing one silently
 * splits kelp from Celery workers, so each builder cites the rule it follows.
 */
import { ConfigurationError } from '@kelp/core';
import { clampPriority, priorityStep } from '@kelp/virtual';
import { keySlot } from './cluster-slot.js';

/**
 * How queue key names are laid out:
 * - `flat` (Kombu's, and single-slot mode's): `<prefix><q>`, one global `unacked` hash and
 *   index; the names every Kombu process reads and writes.
 * - `sharded` (kelp-only, for a Redis Cluster spread over its masters): every key of a queue
 *   carries the queue's hash tag, `<prefix>{<q>}...`, so they share one slot; the queue's own
 *   `unacked` hash and index sit in that slot too, and its pop-and-record stays one script on one
 *   node. Kombu cannot read it (docs/redis-cluster.md#sharded-layout).
 */
export const KEY_LAYOUTS = ['flat', 'sharded'] as const;
export type KeyLayout = (typeof KEY_LAYOUTS)[number];

/** What decides key names; a subset of the validated transport options plus the db number. */
export interface KeyOptions {
  sep: string;
  /** Ascending priority steps, e.g. [0, 3, 6, 9]. */
  prioritySteps: readonly number[];
  globalKeyprefix: string;
  unackedKey: string;
  unackedIndexKey: string;
  unackedMutexKey: string;
  /** true = `/{db}.`, false = no prefix, string = that prefix (docs/wire-format.md#fanout-channels). */
  fanoutPrefix: boolean | string;
  fanoutPatterns: boolean;
  db: number;
  /**
   * Keep `{db}` in the fanout prefix as it is: Kombu 5.2.4 never fills it in on sentinel://, so
   * its channels there are `/{db}.<exchange>` (docs/wire-format.md#fanout-channels).
   */
  literalFanoutDb?: boolean;
  /** `flat` (the default) or `sharded`; see {@link KeyLayout}. */
  layout?: KeyLayout;
}

/** The keys a queue's deliveries are recorded under until acked. */
export interface UnackedKeys {
  /** Hash: tag -> `[envelope, exchange, routingKey]`. */
  unacked: string;
  /** Zset: tag scored by delivery time in Unix seconds. */
  unackedIndex: string;
  /** Lock taken by a restore of these keys. */
  unackedMutex: string;
}

/** The names the publish script needs to apply queue arguments (route-and-push-0.lua ARGV 4, 6-8). */
export interface QueuePolicyNames {
  /** {@link RedisKeys.queueArgumentsKey} without the queue name. */
  argumentsPrefix: string;
  /** JSON array of the priority sub-list suffixes in consume order ("" first). */
  stepSuffixes: string;
  /** What {@link RedisKeys.deadLetterKey} appends to the prefixed queue name. */
  deadLetterSuffix: string;
  /** {@link RedisKeys.droppedKey} without the reason. */
  droppedPrefix: string;
  /**
   * Set in the sharded layout only: each queue counts its drops in its own hash,
   * `droppedPrefix + reason + this + {<q>}` ({@link RedisKeys.droppedKeyOf}), in its slot.
   */
  droppedQueueSeparator?: string;
}

export interface BindingMember {
  routingKey: string;
  pattern: string;
  queue: string;
}

/** Suffix of the per-queue list where kelp moves envelopes it could not parse (not a Kombu key). */
export const DEAD_LETTER_SUFFIX = 'dead';

/** Between the reason and the queue's `{<q>}` in a sharded drop-count hash name (RedisKeys.droppedKeyOf). */
const DROPPED_QUEUE_SEPARATOR = '.';

export class RedisKeys {
  readonly sep: string;
  readonly steps: readonly number[];
  readonly prefix: string;
  /** The fanout prefix with `{db}` substituted (`/0.` by default). */
  readonly fanoutPrefix: string;
  readonly fanoutPatterns: boolean;
  readonly layout: KeyLayout;
  /**
   * The queue whose own unacked keys {@link unacked} and its siblings are in a view made by
   * {@link scopedToQueue}; undefined for the global trio.
   */
  readonly unackedOwner: string | undefined = undefined;
  /** The unprefixed names of the unacked trio (the sharded layout appends them to each queue's tag). */
  readonly unackedNames: { readonly unacked: string; readonly index: string; readonly mutex: string };

  constructor(options: KeyOptions) {
    this.layout = options.layout ?? 'flat';
    if (this.layout === 'sharded' && /[{}]/.test(options.globalKeyprefix)) {
      // A brace in the prefix would decide the hash tag of every key: all of them in one slot.
      throw new ConfigurationError(
        `globalKeyprefix ${JSON.stringify(options.globalKeyprefix)} holds a brace; the sharded layout gives each queue its own hash tag, so the prefix must have none`,
        { option: 'transportOptions.globalKeyprefix' },
      );
    }
    this.unackedNames = { unacked: options.unackedKey, index: options.unackedIndexKey, mutex: options.unackedMutexKey };
    this.sep = options.sep;
    this.steps = [...options.prioritySteps].sort((a, b) => a - b);
    this.prefix = options.globalKeyprefix;
    this.fanoutPatterns = options.fanoutPatterns;
    const fanout = options.fanoutPrefix === true ? '/{db}.' : options.fanoutPrefix === false ? '' : options.fanoutPrefix;
    this.fanoutPrefix = options.literalFanoutDb === true ? fanout : fanout.replace('{db}', String(options.db));
    this.unacked = this.prefix + options.unackedKey;
    this.unackedIndex = this.prefix + options.unackedIndexKey;
    this.unackedMutex = this.prefix + options.unackedMutexKey;
  }

  /** `unacked` hash: tag -> `[envelope, exchange, routingKey]` (prefixed, docs/wire-format.md#unacked). */
  readonly unacked: string;
  /** `unacked_index` zset: tag scored by delivery time in Unix seconds. */
  readonly unackedIndex: string;
  /** `unacked_mutex` lock taken by restoreVisible. */
  readonly unackedMutex: string;

  /**
   * Kombu's step selection: clamp to 0..9 (non-numbers count as 0, Python `int()` truncates),
   * then the largest step <= priority; below the first step wraps to the LAST step, as
   * `steps[bisect_right(steps, p) - 1]` does in Python.
   */
  priorityStep(priority: unknown): number {
    return priorityStep(clampPriority(priority), this.steps);
  }

  /** Unprefixed list name of a queue at a step: bare name for step 0, else `<q><sep><step>` (`{<q>}...` when sharded). */
  queueName(queue: string, step = 0): string {
    return this.shardName(queue) + this.stepSuffix(step);
  }

  /** What a step appends to a queue's list name: nothing for step 0, else `<sep><step>`. */
  stepSuffix(step: number): string {
    return step === 0 ? '' : `${this.sep}${step}`;
  }

  /**
   * The queue's name as its keys spell it: the name itself (flat), or `{<q>}` (sharded), whose
   * hash tag puts every key of the queue in one slot. A sharded name must be non-empty and free
   * of braces: an empty tag or one cut short by a `}` would hash each key whole, scattering the
   * queue's keys over slots.
   */
  shardName(queue: string): string {
    if (this.layout === 'flat') return queue;
    if (queue === '' || /[{}]/.test(queue)) {
      throw new ConfigurationError(`queue name ${JSON.stringify(queue)}: the sharded cluster layout needs a non-empty queue name without braces`, { option: 'queue' });
    }
    return `{${queue}}`;
  }

  /**
   * The keys recording a queue's unacked deliveries: the global {@link unacked} trio (flat), or
   * the queue's own `<prefix>{<q>}<sep>unacked` ... (sharded), in the queue's slot.
   */
  unackedKeys(queue: string): UnackedKeys {
    if (this.layout === 'flat') return { unacked: this.unacked, unackedIndex: this.unackedIndex, unackedMutex: this.unackedMutex };
    const base = `${this.prefix}${this.shardName(queue)}${this.sep}`;
    return { unacked: base + this.unackedNames.unacked, unackedIndex: base + this.unackedNames.index, unackedMutex: base + this.unackedNames.mutex };
  }

  /**
   * These names with the queue's own unacked trio in place of the global one (sharded): what
   * the restore code, written for one trio, works on when it restores one queue's records.
   */
  scopedToQueue(queue: string): RedisKeys {
    const own = this.unackedKeys(queue);
    const scoped = Object.create(this) as RedisKeys;
    Object.defineProperties(scoped, {
      unacked: { value: own.unacked },
      unackedIndex: { value: own.unackedIndex },
      unackedMutex: { value: own.unackedMutex },
      unackedOwner: { value: queue },
    });
    return scoped;
  }

  /** The cluster hash slot every key of the queue is in (sharded; flat keys hash per key, or by the prefix's tag). */
  queueSlot(queue: string): number {
    return keySlot(this.queueKey(queue));
  }

  /** Prefixed list key of a queue at a step. */
  queueKey(queue: string, step = 0): string {
    return this.prefix + this.queueName(queue, step);
  }

  /** Prefixed list key a message of this priority is LPUSHed to. */
  queueKeyForPriority(queue: string, priority: unknown): string {
    return this.queueKey(queue, this.priorityStep(priority));
  }

  /** Every step list of a queue in ascending step order (size, purge, delete touch all of them). */
  queueKeys(queue: string): string[] {
    return this.steps.map((step) => this.queueKey(queue, step));
  }

  /**
   * Keys of one blocking/batched pop: grouped by step first, then queue order
   * (docs/wire-format.md#pop-order), so a step-0 message of any queue is served before a step-3
   * message of the first queue.
   */
  popKeys(queues: readonly string[]): string[] {
    const keys: string[] = [];
    for (const step of this.steps) for (const queue of queues) keys.push(this.queueKey(queue, step));
    return keys;
  }

  /** Prefixed dead-letter list of a queue: `<q><sep>dead` (kelp's own; Kombu never reads it). */
  deadLetterKey(queue: string): string {
    return `${this.prefix}${this.shardName(queue)}${this.sep}${DEAD_LETTER_SUFFIX}`;
  }

  /**
   * Prefixed hash of the queue arguments kelp enforces on the broker, `_kelp.queue.<q>` (kelp's
   * own, docs/wire-format.md#keys): written when the queue is declared with them, read by the
   * publish script of every process (`x-message-ttl`, `x-max-length`, `x-max-length-bytes`,
   * `x-overflow`, `x-dead-letter`).
   */
  queueArgumentsKey(queue: string): string {
    return `${this.prefix}_kelp.queue.${this.shardName(queue)}`;
  }

  /** The publish script's names for applying queue arguments (built here, like every key name). */
  queuePolicyNames(): QueuePolicyNames {
    return {
      argumentsPrefix: `${this.prefix}_kelp.queue.`,
      stepSuffixes: JSON.stringify(this.steps.map((step) => this.stepSuffix(step))),
      deadLetterSuffix: `${this.sep}${DEAD_LETTER_SUFFIX}`,
      droppedPrefix: this.droppedKey(''),
      ...(this.layout === 'sharded' ? { droppedQueueSeparator: DROPPED_QUEUE_SEPARATOR } : {}),
    };
  }

  /** {@link delayedKey} without the queue's name (the expiry touch appends each queue's). */
  get delayedPrefix(): string {
    return `${this.prefix}_kelp.delayed.`;
  }

  /**
   * Prefixed sorted set of a queue's delayed messages, `_kelp.delayed.<q>` (`_kelp.delayed.{<q>}`
   * in the sharded layout, in the queue's slot) (kelp's own,
   * docs/wire-format.md#delayed-delivery): member `<priority step>|<envelope>`, score = due time
   * in epoch ms. Kombu never reads it: a Python consumer sees the message once a kelp mover has
   * pushed it to the queue's list.
   */
  delayedKey(queue: string): string {
    return `${this.prefix}_kelp.delayed.${this.shardName(queue)}`;
  }

  /**
   * Prefixed sorted set `_kelp.delayed_index` (kelp's own): every queue with delayed messages,
   * scored by its earliest due time (epoch ms), so a mover finds due queues without a SCAN.
   */
  get delayedIndex(): string {
    return `${this.prefix}_kelp.delayed_index`;
  }

  /**
   * The delayed index the mover reads for `queue`: the global {@link delayedIndex} (flat), or the
   * queue's own `<prefix>_kelp.delayed_index.{<q>}` (sharded), in the queue's slot, naming only
   * `{<q>}` while the queue has delayed messages; a mover finds these keys by a SCAN of each
   * master (docs/redis-cluster.md#delayed-delivery).
   */
  delayedIndexOf(queue: string): string {
    return this.layout === 'flat' ? this.delayedIndex : `${this.delayedIndex}.${this.shardName(queue)}`;
  }

  /** The member of a delayed set: the priority step the message is pushed to, `|`, the envelope. */
  delayedMember(envelope: string, priority: unknown): string {
    return `${this.priorityStep(priority)}|${envelope}`;
  }

  /**
   * Prefixed hash counting messages dropped for `reason` (`expired`, `maxlen`), `_kelp.dropped.<reason>`
   * (kelp's own): field = the queue's {@link deadLetterKey}, the one key per queue the pop script
   * is given, value = count.
   */
  droppedKey(reason: string): string {
    return `${this.prefix}_kelp.dropped.${reason}`;
  }

  /**
   * The drop-count hash a queue's drops for `reason` are counted in: {@link droppedKey} (flat), or
   * the queue's own `<prefix>_kelp.dropped.<reason>.{<q>}` (sharded), in the queue's slot so the
   * pop script may count there. The field is the queue's {@link deadLetterKey} in both.
   */
  droppedKeyOf(queue: string, reason: string): string {
    return this.layout === 'flat' ? this.droppedKey(reason) : `${this.droppedKey(reason)}${DROPPED_QUEUE_SEPARATOR}${this.shardName(queue)}`;
  }

  /**
   * The queue a popped key belongs to: strips the global prefix and a trailing `<sep><step>`.
   * Kombu right-splits on sep unconditionally; we only strip a suffix that is a configured step,
   * so a queue name that itself contains sep survives.
   */
  queueFromKey(key: string): string {
    const name = this.stripPrefix(key);
    // Sharded names are `{<q>}<suffix>` and <q> holds no brace: the queue is the tag.
    if (this.layout === 'sharded' && name.startsWith('{')) return name.slice(1, name.indexOf('}'));
    const at = name.lastIndexOf(this.sep);
    if (at >= 0) {
      const suffix = name.slice(at + this.sep.length);
      if (/^\d+$/.test(suffix) && this.steps.includes(Number(suffix)) && Number(suffix) !== 0) return name.slice(0, at);
    }
    return name;
  }

  stripPrefix(name: string): string {
    return this.prefix && name.startsWith(this.prefix) ? name.slice(this.prefix.length) : name;
  }

  /** `_kombu.binding.<ex>` set key (prefixed; its members never are, docs/wire-format.md#bindings). */
  bindingKey(exchange: string): string {
    return `${this.prefix}_kombu.binding.${exchange}`;
  }

  /** `<rk><sep><pattern><sep><queue>`; null-ish fields are written as empty strings. */
  bindingMember(member: BindingMember): string {
    return `${member.routingKey}${this.sep}${member.pattern}${this.sep}${member.queue}`;
  }

  /** Splits a member into its three fields; `undefined` for a member without two separators. */
  parseBindingMember(raw: string): BindingMember | undefined {
    const first = raw.indexOf(this.sep);
    if (first < 0) return undefined;
    const second = raw.indexOf(this.sep, first + this.sep.length);
    if (second < 0) return undefined;
    return {
      routingKey: raw.slice(0, first),
      pattern: raw.slice(first + this.sep.length, second),
      queue: raw.slice(second + this.sep.length),
    };
  }

  /** PUBLISH channel: `<gkp><fanoutPrefix><ex>[/<rk>]` (the rk only with fanoutPatterns). */
  fanoutChannel(exchange: string, routingKey: string): string {
    const suffix = this.fanoutPatterns && routingKey ? `/${routingKey}` : '';
    return `${this.prefix}${this.fanoutPrefix}${exchange}${suffix}`;
  }

  /** PSUBSCRIBE pattern of a fanout binding: the channel with every `#` in the rk turned into `*`. */
  fanoutPattern(exchange: string, bindingRoutingKey: string): string {
    return this.fanoutChannel(exchange, bindingRoutingKey.replaceAll('#', '*'));
  }

  /**
   * The exchange a pub/sub message was published to: strips the global prefix, a leading
   * `/<db>.` (up to the first `.`, only when the name starts with `/`, as Kombu does), then
   * takes the text before the first `/`.
   */
  exchangeFromChannel(channel: string): string {
    let name = this.stripPrefix(channel);
    if (this.fanoutPrefix && name.startsWith(this.fanoutPrefix)) name = name.slice(this.fanoutPrefix.length);
    else if (name.startsWith('/')) name = name.slice(name.indexOf('.') + 1);
    const slash = name.indexOf('/');
    return slash >= 0 ? name.slice(0, slash) : name;
  }
}
