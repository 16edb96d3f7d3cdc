/**
 * A received task message read as Celery's worker reads protocol 2 (`celery.worker.request`):
 * the headers, the body `[args, kwargs, embed]` and the delivery info.
 */
import { DecodeError, type Headers, type Message } from '@kelp/core';
import { parsePyTime } from './py-time.js';
import { EMPTY_EMBED, type TaskEmbed } from './task-message.js';

export interface TaskRequest {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: TaskEmbed;
  headers: Headers;
  retries: number;
  /** When the task may run (ms since the epoch), if it has an ETA. */
  eta: number | undefined;
  /** When it expires (ms since the epoch), if it does. */
  expires: number | undefined;
  /** `[hard, soft]` time limits in seconds from the `timelimit` header. */
  timeLimit: number | undefined;
  softTimeLimit: number | undefined;
  rootId: string | null;
  parentId: string | null;
  groupId: string | null;
  groupIndex: number | null;
  ignoreResult: boolean;
  replyTo: string;
  priority: number | undefined;
}

/** Reads a task message; throws DecodeError when it is not a protocol 2 task. */
export function readTaskRequest(message: Message): TaskRequest {
  const headers = message.headers;
  const name = headers['task'];
  const id = headers['id'];
  if (typeof name !== 'string' || typeof id !== 'string') {
    throw new DecodeError('Not a Celery protocol 2 task message: the `task` and `id` headers are missing');
  }
  const body = message.decode();
  if (!Array.isArray(body) || body.length < 2) throw new DecodeError(`Task ${id}: the body is not [args, kwargs, embed]`);
  const [args, kwargs, embed] = body as [unknown, unknown, unknown];
  if (!Array.isArray(args) || typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    throw new DecodeError(`Task ${id}: args must be a list and kwargs a mapping`);
  }
  const timelimit = Array.isArray(headers['timelimit']) ? headers['timelimit'] : [];
  return {
    id,
    name,
    args,
    kwargs: kwargs as Record<string, unknown>,
    embed: { ...EMPTY_EMBED, ...(typeof embed === 'object' && embed !== null ? (embed as Partial<TaskEmbed>) : {}) },
    headers,
    retries: typeof headers['retries'] === 'number' ? headers['retries'] : 0,
    eta: time(headers['eta']),
    expires: time(headers['expires']),
    timeLimit: seconds(timelimit[0]),
    softTimeLimit: seconds(timelimit[1]),
    rootId: str(headers['root_id']),
    parentId: str(headers['parent_id']),
    groupId: str(headers['group']),
    groupIndex: typeof headers['group_index'] === 'number' ? headers['group_index'] : null,
    ignoreResult: headers['ignore_result'] === true,
    replyTo: str(message.properties.replyTo) ?? '',
    priority: typeof message.properties.priority === 'number' ? message.properties.priority : undefined,
  };
}

function time(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const millis = parsePyTime(value);
  return Number.isNaN(millis) ? undefined : millis;
}

function seconds(value: unknown): number | undefined {
  return typeof value === 'number' && value > 0 ? value : undefined;
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}
