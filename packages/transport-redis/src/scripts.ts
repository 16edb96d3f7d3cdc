/**
 * Registers kelp's Lua scripts on an ioredis client with `defineCommand` (EVALSHA with EVAL
 * fallback on NOSCRIPT, also inside pipelines), and gives them typed wrappers.
 */
import { ChannelError } from '@kelp/core';
import type { ChainableCommander, Redis } from 'ioredis';
import { luaScripts, type LuaScriptName } from './lua-scripts.js';

const commandName = (name: LuaScriptName) => `kelp${name[0]!.toUpperCase()}${name.slice(1)}`;

type Arg = string | number | Buffer;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;

/** Defines every script once per client (idempotent). */
export function defineScripts(client: Redis): void {
  for (const [name, script] of Object.entries(luaScripts) as [LuaScriptName, (typeof luaScripts)[LuaScriptName]][]) {
    const cmd = commandName(name);
    if (typeof (client as unknown as Record<string, unknown>)[cmd] === 'function') continue;
    client.defineCommand(cmd, script.numberOfKeys === undefined ? { lua: script.lua } : { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
}

function call(target: Redis | ChainableCommander, name: LuaScriptName, args: Arg[]): Promise<unknown> {
  const fn = (target as unknown as Record<string, ScriptFn | undefined>)[commandName(name)];
  if (typeof fn !== 'function') throw new Error(`Lua script ${name} is not defined on this client (call defineScripts first)`);
  return fn.apply(target, args);
}

/** One entry of a pop-and-record reply. */
export type PoppedEntry =
  | { kind: 'message'; key: string; payload: string; deliveryTag: string }
  | { kind: 'dead'; key: string; payload: string; reason: string };

export interface PopKeys {
  unacked: string;
  unackedIndex: string;
  /** [queueKey, deadLetterKey] pairs in pop order. */
  queues: readonly (readonly [string, string])[];
}

/** Arguments of the pop-and-record command (numkeys first), for direct calls and pipelines. */
export function popAndRecordArgs(keys: PopKeys, options: { now: number; limit: number; record: boolean }): Arg[] {
  const flat = [keys.unacked, keys.unackedIndex, ...keys.queues.flat()];
  const nowText = options.now.toFixed(6);
  return [flat.length, ...flat, nowText, options.limit, options.record ? '1' : '0', nowText];
}

/** Queues pop-and-record on a pipeline (its reply is parsed with {@link parsePopReply}). */
export function queuePopAndRecord(pipeline: ChainableCommander, args: Arg[]): void {
  void call(pipeline, 'popAndRecord', args);
}

export async function popAndRecord(client: Redis, keys: PopKeys, options: { now: number; limit: number; record: boolean }): Promise<PoppedEntry[]> {
  return parsePopReply(await call(client, 'popAndRecord', popAndRecordArgs(keys, options)));
}

export function parsePopReply(raw: unknown): PoppedEntry[] {
  const reply = Array.isArray(raw) ? (raw as string[]) : [];
  const entries: PoppedEntry[] = [];
  for (let i = 0; i + 2 < reply.length; i += 3) {
    const key = reply[i] as string;
    const payload = reply[i + 1] as string;
    const status = reply[i + 2] as string;
    if (status.startsWith('!dead:')) entries.push({ kind: 'dead', key, payload, reason: status.slice(6) });
    else entries.push({ kind: 'message', key, payload, deliveryTag: status });
  }
  return entries;
}

/** Tags per `ack` script call: bounds how long one call holds the (single-threaded) server. */
const ACK_TAGS_PER_CALL = 5000;

/**
 * Coalesces the acks of one tick into one `ack` script call. A consumer that acks a batch of
 * deliveries from one callback would otherwise send one EVALSHA per tag: auto-pipelining saves
 * the round trips but not the per-command client CPU nor the server's per-call cost. Every
 * caller gets the promise of the call that carries its tag, so a failed call fails each of
 * those acks (none is reported done before Redis has forgotten it).
 */
export class AckCoalescer {
  private batch: { tags: string[]; done: Promise<void>; settle: (error?: unknown) => void } | undefined;

  constructor(
    private readonly client: Redis,
    private readonly unacked: string,
    private readonly unackedIndex: string,
  ) {}

  ack(tags: readonly string[]): Promise<void> {
    let batch = this.batch;
    if (!batch) {
      let settle!: (error?: unknown) => void;
      const done = new Promise<void>((resolve, reject) => {
        settle = (error?: unknown) => (error === undefined ? resolve() : reject(error));
      });
      batch = this.batch = { tags: [], done, settle };
      // nextTick runs once the current callback and its microtasks are done: every ack issued
      // while delivering one popped batch lands in the same call, and none waits a whole loop turn.
      process.nextTick(() => this.flush());
    }
    for (const tag of tags) batch.tags.push(tag);
    return batch.done;
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (!batch) return;
    const calls: Promise<number>[] = [];
    for (let i = 0; i < batch.tags.length; i += ACK_TAGS_PER_CALL) {
      const chunk = i === 0 && batch.tags.length <= ACK_TAGS_PER_CALL ? batch.tags : batch.tags.slice(i, i + ACK_TAGS_PER_CALL);
      calls.push(ackTags(this.client, this.unacked, this.unackedIndex, chunk));
    }
    Promise.all(calls).then(
      () => batch.settle(),
      (error: unknown) => batch.settle(error ?? new ChannelError('ack script call failed without a reason')),
    );
  }
}

export async function ackTags(client: Redis | ChainableCommander, unacked: string, unackedIndex: string, tags: readonly string[]): Promise<number> {
  if (tags.length === 0) return 0;
  return Number(await call(client, 'ack', [unacked, unackedIndex, ...tags]));
}

/** 1 restored, 0 gone, -1 changed since read. */
export async function restoreByTag(
  client: Redis,
  keys: { unacked: string; unackedIndex: string; targets: readonly string[] },
  args: { tag: string; expected: string; envelope: string; leftmost: boolean },
): Promise<number> {
  const flat = [keys.unacked, keys.unackedIndex, ...keys.targets];
  return Number(await call(client, 'restoreByTag', [flat.length, ...flat, args.tag, args.expected, args.envelope, args.leftmost ? 'LPUSH' : 'RPUSH']));
}

export async function releaseMutex(client: Redis, mutexKey: string, token: string): Promise<boolean> {
  return Number(await call(client, 'releaseMutex', [mutexKey, token])) === 1;
}

export async function deadLetter(client: Redis, keys: { unacked: string; unackedIndex: string; deadKey: string }, tag: string, record: string): Promise<number> {
  return Number(await call(client, 'deadLetter', [keys.unacked, keys.unackedIndex, keys.deadKey, tag, record]));
}

/** Messages per `routeAndPush` call: bounds how long one call holds the server. */
const PUSHES_PER_CALL = 1000;

/** One publish waiting for the tick's `routeAndPush` call. */
interface PendingPush {
  /**
   * 'q': push to `target` (a queue); 'd': route by `routingKey` over binding set `target`;
   * 't': push to the queues JSON-encoded in `routingKey` if set `target` is unchanged.
   */
  mode: 'q' | 'd' | 't';
  target: string;
  routingKey: string;
  suffix: string;
  envelope: string;
  resolve: (reply: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces the pushes (and direct-exchange publishes) of one tick into one `routeAndPush` script
 * call (route-and-push-0.lua). One per channel, so a channel's publishes reach Redis in the order
 * they were issued (AMQP orders per channel too). Each publish settles from its own entry of the
 * reply: a push that failed (e.g. WRONGTYPE) fails only its publish, with the error `wrapError`
 * makes of it.
 */
export class PushBatcher {
  private pending: PendingPush[] = [];
  /** Mode 't' of the pending call: binding set key -> the members its queues were matched with. */
  private tables = new Map<string, readonly string[]>();

  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly sep: string,
    private readonly wrapError: (error: unknown) => Error,
  ) {}

  /** LPUSH `envelope` to `queue` + `suffix` (the priority sub-list). */
  push(queue: string, suffix: string, envelope: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.enqueue({ mode: 'q', target: queue, routingKey: '', suffix, envelope, resolve: () => resolve(), reject });
    });
  }

  /** Routes through a direct exchange's binding set and pushes; resolves with the queues reached. */
  routeDirect(bindingKey: string, routingKey: string, suffix: string, envelope: string): Promise<string[]> {
    return new Promise<string[]>((resolve, reject) => {
      const done = (queues: unknown): void => resolve(Array.isArray(queues) ? (queues as string[]) : []);
      this.enqueue({ mode: 'd', target: bindingKey, routingKey, suffix, envelope, resolve: done, reject });
    });
  }

  /**
   * Pushes to `queues`, matched by the caller against `members` (its copy of binding set
   * `bindingKey`), only if the set still holds exactly those members when the push runs;
   * resolves 'stale' (nothing pushed) otherwise.
   */
  routeChecked(bindingKey: string, members: readonly string[], queues: readonly string[], suffix: string, envelope: string): Promise<string[] | 'stale'> {
    const known = this.tables.get(bindingKey);
    // One copy per set and call: a newer copy than the one already in this call waits for a retry.
    if (known !== undefined && known !== members) return Promise.resolve('stale');
    this.tables.set(bindingKey, members);
    return new Promise<string[] | 'stale'>((resolve, reject) => {
      const done = (reply: unknown): void => resolve(reply === 'stale' ? 'stale' : Array.isArray(reply) ? (reply as string[]) : []);
      this.enqueue({ mode: 't', target: bindingKey, routingKey: JSON.stringify(queues), suffix, envelope, resolve: done, reject });
    });
  }

  private enqueue(item: PendingPush): void {
    // nextTick: every publish issued by the current callback and its microtasks joins this call.
    if (this.pending.push(item) === 1) process.nextTick(() => this.flush());
  }

  private flush(): void {
    const items = this.pending;
    const tables = this.tables.size === 0 ? '{}' : JSON.stringify(Object.fromEntries(this.tables));
    this.pending = [];
    this.tables = new Map();
    for (let i = 0; i < items.length; i += PUSHES_PER_CALL) this.send(items.length <= PUSHES_PER_CALL ? items : items.slice(i, i + PUSHES_PER_CALL), tables);
  }

  private send(items: readonly PendingPush[], tables: string): void {
    const args: Arg[] = [this.prefix, this.sep, tables];
    for (const item of items) args.push(item.mode, item.target, item.routingKey, item.suffix, item.envelope);
    call(this.client, 'routeAndPush', args).then(
      (reply) => {
        const results = Array.isArray(reply) ? (reply as unknown[]) : [];
        items.forEach((item, i) => {
          const result = results[i];
          if (result instanceof Error) item.reject(this.wrapError(result));
          else if (result === undefined) item.reject(new ChannelError('routeAndPush replied without an entry for this message'));
          else item.resolve(result);
        });
      },
      (error: unknown) => {
        for (const item of items) item.reject(error);
      },
    );
  }
}
