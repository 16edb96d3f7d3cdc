/**
 * The ONE place where Redis key and pub/sub channel names are built and parsed. Every name here
 * is a wire fact shared with Python Kombu 5.2.4 (docs/wire-format.md#keys); changing one silently
 * splits kelp from Celery workers, so each builder cites the rule it follows.
 */
import { clampPriority, priorityStep } from '@kelp/virtual';

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
}

export interface BindingMember {
  routingKey: string;
  pattern: string;
  queue: string;
}

/** Suffix of the per-queue list where kelp moves envelopes it could not parse (not a Kombu key). */
export const DEAD_LETTER_SUFFIX = 'dead';

export class RedisKeys {
  readonly sep: string;
  readonly steps: readonly number[];
  readonly prefix: string;
  /** The fanout prefix with `{db}` substituted (`/0.` by default). */
  readonly fanoutPrefix: string;
  readonly fanoutPatterns: boolean;

  constructor(options: KeyOptions) {
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

  /** Unprefixed list name of a queue at a step: bare name for step 0, else `<q><sep><step>`. */
  queueName(queue: string, step = 0): string {
    return step === 0 ? queue : `${queue}${this.sep}${step}`;
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
    return `${this.prefix}${queue}${this.sep}${DEAD_LETTER_SUFFIX}`;
  }

  /**
   * Prefixed hash of the queue arguments kelp enforces on the broker, `_kelp.queue.<q>` (kelp's
   * own, docs/wire-format.md#keys): written when the queue is declared with them, read by the
   * publish script of every process (`x-message-ttl`, `x-max-length`, `x-max-length-bytes`,
   * `x-overflow`, `x-dead-letter`).
   */
  queueArgumentsKey(queue: string): string {
    return `${this.prefix}_kelp.queue.${queue}`;
  }

  /** The publish script's names for applying queue arguments (built here, like every key name). */
  queuePolicyNames(): QueuePolicyNames {
    return {
      argumentsPrefix: this.queueArgumentsKey(''),
      stepSuffixes: JSON.stringify(this.steps.map((step) => this.queueName('', step))),
      deadLetterSuffix: this.deadLetterKey('').slice(this.prefix.length),
      droppedPrefix: this.droppedKey(''),
    };
  }

  /**
   * Prefixed sorted set of a queue's delayed messages, `_kelp.delayed.<q>` (kelp's own,
   * docs/wire-format.md#delayed-delivery): member `<priority step>|<envelope>`, score = due time
   * in epoch ms. Kombu never reads it: a Python consumer sees the message once a kelp mover has
   * pushed it to the queue's list.
   */
  delayedKey(queue: string): string {
    return `${this.prefix}_kelp.delayed.${queue}`;
  }

  /**
   * Prefixed sorted set `_kelp.delayed_index` (kelp's own): every queue with delayed messages,
   * scored by its earliest due time (epoch ms), so a mover finds due queues without a SCAN.
   */
  get delayedIndex(): string {
    return `${this.prefix}_kelp.delayed_index`;
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
   * The queue a popped key belongs to: strips the global prefix and a trailing `<sep><step>`.
   * Kombu right-splits on sep unconditionally; we only strip a suffix that is a configured step,
   * so a queue name that itself contains sep survives.
   */
  queueFromKey(key: string): string {
    const name = this.stripPrefix(key);
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
