/**
 * Builds a Celery protocol 2 task message exactly as Celery 5.2's `amqp.as_task_v2` and
 * `send_task_message` do (docs/celery.md#the-task-message): the headers (`lang`, `task`, `id`,
 * `shadow`, `eta`, `expires`, `group`, `group_index`, `retries`, `timelimit`, `root_id`,
 * `parent_id`, `argsrepr`, `kwargsrepr`, `origin`, `ignore_result`, then the caller's), the body
 * `[args, kwargs, {callbacks, errbacks, chain, chord}]` and the properties `correlation_id` and
 * `reply_to`. `expiration` (Celery's property, in seconds) is computed but not sent (see app.ts).
 */
import { ConfigurationError, msgpackSerializer, type HeaderValue, type Headers } from '@kelp/core';
import type { z } from 'zod';
import type { sendTaskOptionsSchema, TaskSerializer } from './options.js';
import { pyJsonDumps } from './py-json.js';
import { argsRepr, kwargsRepr } from './py-repr.js';
import { parsePyTime, pyIsoformat } from './py-time.js';

export type ParsedSendOptions = z.output<typeof sendTaskOptionsSchema> & { headers?: Record<string, HeaderValue> | undefined };

/** The fourth item of a protocol 2 body: the canvas links that travel with the task. */
export interface TaskEmbed {
  callbacks: HeaderValue[] | null;
  errbacks: HeaderValue[] | null;
  chain: HeaderValue[] | null;
  chord: HeaderValue | null;
}

export const EMPTY_EMBED: TaskEmbed = { callbacks: null, errbacks: null, chain: null, chord: null };

export interface TaskMessage {
  id: string;
  headers: Headers;
  body: Uint8Array | string;
  contentType: string;
  contentEncoding: string;
  correlationId: string;
  replyTo: string;
  /** Seconds until expiry (Celery's `expiration` property; kelp writes it in milliseconds). */
  expiration: number | undefined;
}

export interface TaskMessageInput {
  id: string;
  name: string;
  args: readonly unknown[];
  kwargs: Readonly<Record<string, unknown>>;
  options: ParsedSendOptions;
  embed: TaskEmbed;
  origin: string;
  replyTo: string;
  serializer: TaskSerializer;
  now?: Date;
}

export function buildTaskMessage(input: TaskMessageInput): TaskMessage {
  const { id, name, args, kwargs, options } = input;
  const now = input.now ?? new Date();
  let eta = toIso(options.eta, 'eta');
  if (options.countdown) eta = pyIsoformat(new Date(now.getTime() + options.countdown * 1000));
  const expires = typeof options.expires === 'number' ? pyIsoformat(new Date(now.getTime() + options.expires * 1000)) : toIso(options.expires, 'expires');
  const headers: Headers = {
    // Informational only (no Celery code reads it); the one header that differs from Python's.
    lang: 'js',
    task: name,
    id,
    shadow: options.shadow ?? null,
    eta,
    expires,
    group: options.groupId ?? null,
    group_index: options.groupIndex ?? null,
    retries: options.retries,
    timelimit: [options.timeLimit ?? null, options.softTimeLimit ?? null],
    root_id: options.rootId ?? id,
    parent_id: options.parentId ?? null,
    argsrepr: argsRepr(args),
    kwargsrepr: kwargsRepr(kwargs),
    origin: input.origin,
    ignore_result: options.ignoreResult,
    ...options.headers,
  };
  const payload = [args, kwargs, input.embed];
  const encoded = input.serializer === 'msgpack'
    ? { body: msgpackSerializer.encode(payload), contentType: 'application/x-msgpack', contentEncoding: 'binary' }
    : { body: pyJsonDumps(payload), contentType: 'application/json', contentEncoding: 'utf-8' };
  return {
    id,
    headers,
    ...encoded,
    correlationId: id,
    replyTo: options.replyTo ?? input.replyTo,
    expiration: expirationSeconds(options.expires, now),
  };
}

/** Celery's `expiration` property: seconds left, 0 for a time already past. */
function expirationSeconds(expires: number | Date | string | undefined, now: Date): number | undefined {
  if (expires === undefined) return undefined;
  const seconds = typeof expires === 'number' ? expires : (toMillis(expires, 'expires') - now.getTime()) / 1000;
  return Math.max(0, seconds);
}

/** A time as the header text: a Date formatted as Celery does, a string checked and kept as is (as Celery keeps it). */
function toIso(value: Date | string | undefined, option: string): string | null {
  if (value === undefined) return null;
  const millis = toMillis(value, option);
  return typeof value === 'string' ? value : pyIsoformat(new Date(millis));
}

function toMillis(value: Date | string, option: string): number {
  const millis = typeof value === 'string' ? parsePyTime(value) : value.getTime();
  if (Number.isNaN(millis)) {
    throw new ConfigurationError(`sendTask: option \`${option}\` is not a valid time: ${String(value)}`, { option });
  }
  return millis;
}
