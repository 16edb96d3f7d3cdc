/**
 * Celery 5.2's Redis chord join (`RedisBackend.on_chord_part_return`), so a chord header may run on
 * kelp and Python workers alike: each finished header task adds `[1, id, state, result]` to the
 * `celery-taskset-meta-<group>.j` zset (score: its `group_index`) and, in the same transaction,
 * counts the zset and reads `.t` and `.s`; the task whose count reaches `.s` + `.t` reads the zset
 * in order, sends the body with the list of results, and deletes the three keys. A failed header
 * task fails the body with ChordError, as Celery does.
 */
import { exceptionInfo } from './exception-info.js';
import { pyJsonDumps } from './py-json.js';
import { repr } from './py-repr.js';
import { groupKey, type RedisResultBackend } from './redis-backend.js';
import { isExceptionInfo, resultMeta, type ResultMeta } from './result-meta.js';
import type { Signature } from './signature.js';

/** States that fail the chord (Celery's PROPAGATE_STATES). */
const PROPAGATE_STATES = new Set(['FAILURE', 'REVOKED']);

export interface ChordPart {
  taskId: string;
  groupId: string;
  groupIndex: number | null;
  meta: ResultMeta;
}

export type ChordOutcome = { complete: false } | { complete: true; results: unknown[] } | { complete: true; error: ResultMeta };

/** Records one header result; when it completes the chord, returns the results (or the failure to store for the body). */
export async function chordPartReturn(backend: RedisResultBackend, part: ChordPart, bodyId: string): Promise<ChordOutcome> {
  // A driver error may carry the backend's password (AUTH's arguments): scrubbed before it leaves.
  return joinPart(backend, part, bodyId).catch((error: unknown) => {
    throw backend.scrub(error);
  });
}

async function joinPart(backend: RedisResultBackend, part: ChordPart, bodyId: string): Promise<ChordOutcome> {
  const jkey = groupKey(part.groupId, '.j');
  const tkey = groupKey(part.groupId, '.t');
  const skey = groupKey(part.groupId, '.s');
  const encoded = pyJsonDumps([1, part.taskId, part.meta.status, part.meta.result]);
  const multi = backend.client.multi().zadd(jkey, part.groupIndex === null ? '+inf' : String(part.groupIndex), encoded).zcount(jkey, '-inf', '+inf').get(tkey).get(skey);
  if (backend.ttl > 0) {
    const seconds = backend.ttl;
    multi.expire(jkey, seconds).expire(tkey, seconds).expire(skey, seconds);
  }
  const replies = (await multi.exec()) ?? [];
  const readyCount = Number(replies[1]?.[1] ?? 0);
  const totalDiff = Number(replies[2]?.[1] ?? 0);
  const size = replies[3]?.[1];
  if (size === null || size === undefined) return { complete: false };
  if (readyCount !== Number(size) + totalDiff) return { complete: false };
  try {
    const members = await backend.client.zrange(jkey, 0, -1);
    const results: unknown[] = [];
    for (const member of members) {
      const [, taskId, state, value] = JSON.parse(member) as [number, string, string, unknown];
      if (PROPAGATE_STATES.has(state)) {
        const info = isExceptionInfo(value) ? value : { exc_type: 'Exception', exc_message: [String(value)] };
        const args = Array.isArray(info.exc_message) ? info.exc_message.map(repr).join(', ') : repr(info.exc_message);
        const error = Object.assign(new Error(`Dependency ${taskId} raised ${info.exc_type}(${args})`), { excType: 'ChordError', excModule: 'celery.exceptions' });
        return { complete: true, error: resultMeta(bodyId, 'FAILURE', exceptionInfo(error), null) };
      }
      results.push(value);
    }
    return { complete: true, results };
  } finally {
    await backend.client.del(jkey, tkey, skey);
  }
}

/** Sends the chord body with the header's results (Celery's `callback.delay(resl)`). */
export async function sendChordBody(body: Signature, results: unknown[]): Promise<void> {
  await body.applyAsync([results]);
}
