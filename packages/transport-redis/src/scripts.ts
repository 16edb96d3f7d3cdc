/**
 * Registers kelp's Lua scripts on an ioredis client with `defineCommand` (EVALSHA with EVAL
 * fallback on NOSCRIPT, also inside pipelines), and gives them typed wrappers.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { luaScripts, type LuaScriptName } from './lua-scripts.js';

const commandNameOf = (name: string): string => `kelp${name[0]!.toUpperCase()}${name.slice(1)}`;

/**
 * The ioredis command name of each script, built once: looking a method up by a freshly built
 * string makes V8 hash it on every call.
 */
const COMMAND_NAMES = Object.fromEntries(Object.keys(luaScripts).map((name) => [name, commandNameOf(name)])) as Record<LuaScriptName, string>;
const commandName = (name: LuaScriptName): string => COMMAND_NAMES[name];

export type Arg = string | number | Buffer;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;

/** Defines every script once per client (idempotent). */
export function defineScripts(client: Redis): void {
  for (const [name, script] of Object.entries(luaScripts) as [LuaScriptName, (typeof luaScripts)[LuaScriptName]][]) {
    const cmd = commandName(name);
    if (typeof (client as unknown as Record<string, unknown>)[cmd] === 'function') continue;
    client.defineCommand(cmd, script.numberOfKeys === undefined ? { lua: script.lua } : { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
}

export function call(target: Redis | ChainableCommander, name: LuaScriptName, args: Arg[]): Promise<unknown> {
  const fn = (target as unknown as Record<string, ScriptFn | undefined>)[commandName(name)];
  if (typeof fn !== 'function') throw new Error(`Lua script ${name} is not defined on this client (call defineScripts first)`);
  return fn.apply(target, args);
}

/** Runs `write` with the client's socket corked, so the commands it queues leave in one write. */
export function inOneWrite<T>(client: Redis, write: () => T): T {
  const socket = client.stream as { cork?(): void; uncork?(): void } | undefined;
  socket?.cork?.();
  try {
    return write();
  } finally {
    socket?.uncork?.();
  }
}

/**
 * The pop and its leading-empty check over `lists` as two plain commands in one socket write.
 * Not an ioredis pipeline: V8 promotes a Pipeline object per pop to the old generation in a
 * drain, which grows a consumer's RSS (docs/performance.md#memory); two plain commands leave
 * almost nothing behind. A failed leading-empty only means no list is marked empty (0).
 */
export function popAndArm(client: Redis, args: Arg[], lists: readonly string[]): Promise<[unknown, unknown]> {
  return inOneWrite(client, () => {
    const pop = call(client, 'popAndRecord', args);
    const empty = call(client, 'leadingEmpty', [lists.length, ...lists]).catch(() => 0);
    return Promise.all([pop, empty]);
  });
}

/** One entry of a pop-and-record reply. */
export type PoppedEntry =
  | { kind: 'message'; key: string; payload: string; deliveryTag: string }
  | { kind: 'dead'; key: string; payload: string; reason: string }
  /** A message whose TTL had passed: dead-lettered (reason `expired`) or dropped and counted. */
  | { kind: 'expired'; key: string; deadLettered: boolean };

export interface PopKeys {
  unacked: string;
  unackedIndex: string;
  /** [queueKey, deadLetterKey] pairs in pop order. */
  queues: readonly (readonly [string, string])[];
  /** The hash counting expired messages dropped (RedisKeys.droppedKey('expired')). */
  expiredDropped: string;
}

export interface PopOptions {
  now: number;
  limit: number;
  record: boolean;
  /** One character per pair, '1' where expired messages are dead-lettered (see {@link expiredDeadLetterFlags}). */
  deadLetterFlags?: string;
}

/** Arguments of the pop-and-record command (numkeys first), for direct calls and pipelines. */
export function popAndRecordArgs(keys: PopKeys, options: PopOptions): Arg[] {
  const flat = [keys.unacked, keys.unackedIndex, ...keys.queues.flat()];
  const nowText = options.now.toFixed(6);
  return [flat.length, ...flat, nowText, options.limit, options.record ? '1' : '0', nowText, options.deadLetterFlags ?? '', keys.expiredDropped];
}

/**
 * The pop's dead-letter flags for `pairs`: '1' where the pair's queue has dead-letter routing,
 * '' when none has (the usual case, and nothing to compute per pair).
 */
export function expiredDeadLetterFlags(pairs: readonly (readonly [string, string])[], deadLetters: ((queueKey: string) => boolean) | undefined): string {
  if (deadLetters === undefined) return '';
  let flags = '';
  let any = false;
  for (const [key] of pairs) {
    const on = deadLetters(key);
    any ||= on;
    flags += on ? '1' : '0';
  }
  return any ? flags : '';
}

/** Queues pop-and-record on a pipeline (its reply is parsed with {@link parsePopReply}). */
export function queuePopAndRecord(pipeline: ChainableCommander, args: Arg[]): void {
  void call(pipeline, 'popAndRecord', args);
}

export async function popAndRecord(client: Redis, keys: PopKeys, options: PopOptions): Promise<PoppedEntry[]> {
  return parsePopReply(await call(client, 'popAndRecord', popAndRecordArgs(keys, options)));
}

export function parsePopReply(raw: unknown): PoppedEntry[] {
  return parsePopResult(raw).entries;
}

/** A pop-and-record reply: the entries and how many leading key pairs were found empty. */
export interface PopResult {
  entries: PoppedEntry[];
  /** The first `exhausted` queue keys passed were empty (and armed for tracking). */
  exhausted: number;
}

export function parsePopResult(raw: unknown): PopResult {
  const reply = Array.isArray(raw) ? (raw as (string | number)[]) : [];
  // The trailing integer (absent from replies of older script versions: then nothing is known).
  const last = reply.length % 3 === 1 ? reply[reply.length - 1] : undefined;
  const exhausted = typeof last === 'number' ? last : 0;
  const entries: PoppedEntry[] = [];
  for (let i = 0; i + 2 < reply.length; i += 3) {
    const key = reply[i] as string;
    const payload = reply[i + 1] as string;
    const status = reply[i + 2] as string;
    if (status.startsWith('!dead:')) entries.push({ kind: 'dead', key, payload, reason: status.slice(6) });
    else if (status.startsWith('!expired:')) entries.push({ kind: 'expired', key, deadLettered: status === '!expired:1' });
    else entries.push({ kind: 'message', key, payload, deliveryTag: status });
  }
  return { entries, exhausted };
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
