/**
 * Celery's result payload and task states (docs/celery.md#results): what a worker stores under
 * `celery-task-meta-<id>` and publishes on the channel of that name.
 */
import { msgpackSerializer } from '@kelp/core';
import type { ExceptionInfo } from './errors.js';
import type { TaskSerializer } from './options.js';
import { pyJsonDumps } from './py-json.js';
import { pyIsoformat } from './py-time.js';

/** Celery's states. PENDING means unknown: Celery stores nothing before a worker sees the task. */
export type TaskState = 'PENDING' | 'RECEIVED' | 'STARTED' | 'SUCCESS' | 'FAILURE' | 'REVOKED' | 'REJECTED' | 'RETRY' | 'IGNORED' | (string & {});

/** The states after which a task's result no longer changes (Celery's READY_STATES). */
export const READY_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
/** The states whose `result` is an exception dict (Celery's EXCEPTION_STATES). */
export const EXCEPTION_STATES: ReadonlySet<string> = new Set(['RETRY', 'FAILURE', 'REVOKED']);

export interface ResultMeta {
  status: TaskState;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  date_done: string | null;
  task_id: string;
  /** Celery adds these when the task ran in a group or chord. */
  group_id?: string;
  parent_id?: string;
  [extra: string]: unknown;
}

/** The payload Celery 5.2's `_get_result_meta` builds, in its key order. */
export function resultMeta(taskId: string, status: TaskState, result: unknown, traceback: string | null, extra: { groupId?: string | null | undefined; parentId?: string | null | undefined } = {}): ResultMeta {
  const meta: ResultMeta = {
    status,
    // A function that returns nothing stores None, as a Python task returning nothing does.
    result: result === undefined ? null : result,
    traceback,
    children: [],
    date_done: pyIsoformat(new Date(), false),
    task_id: taskId,
  };
  // Celery 5.2 adds group_id and parent_id only when the request has them.
  if (extra.groupId) meta.group_id = extra.groupId;
  if (extra.parentId) meta.parent_id = extra.parentId;
  return meta;
}

export function isExceptionInfo(value: unknown): value is ExceptionInfo {
  return typeof value === 'object' && value !== null && typeof (value as { exc_type?: unknown }).exc_type === 'string';
}

export function encodeMeta(meta: ResultMeta, serializer: TaskSerializer): Buffer | string {
  return serializer === 'msgpack' ? Buffer.from(msgpackSerializer.encode(meta)) : pyJsonDumps(meta);
}

/** Reads a stored payload whichever serializer wrote it (JSON starts with `{`, msgpack with a map byte). */
export function decodeMeta(bytes: Buffer): ResultMeta {
  if (bytes[0] === 0x7b) return JSON.parse(bytes.toString('utf8')) as ResultMeta;
  return msgpackSerializer.decode(bytes, 'binary') as ResultMeta;
}
