/**
 * What a worker does for canvas around a task, as Celery 5.2's tracer and Redis backend do:
 * on success it sends the linked callbacks and the next step of the `chain` (the result put before
 * their arguments, `parent_id` the task, `root_id` kept) before the result is stored; on failure
 * the errbacks with the task id; and for a chord header task, after its result is stored, the chord
 * join (chord-join.ts) that may send the body.
 */
import { chordPartReturn } from './chord-join.js';
import type { RedisResultBackend } from './redis-backend.js';
import type { ResultMeta } from './result-meta.js';
import { isSignatureDict, Signature, type SignatureSender } from './signature.js';
import type { TaskRequest } from './task-request.js';

export interface CanvasRunnerHost extends SignatureSender {
  readonly hasBackend: boolean;
  resultBackend(): RedisResultBackend;
}

export class CanvasRunner {
  readonly #app: CanvasRunnerHost;

  constructor(app: CanvasRunnerHost) {
    this.#app = app;
  }

  /** Callbacks and the next chain step, sent before the result is stored (so `children` could list them). */
  async onSuccess(request: TaskRequest, value: unknown): Promise<void> {
    const lineage = { parentId: request.id, rootId: request.rootId ?? request.id };
    for (const callback of request.embed.callbacks ?? []) {
      if (isSignatureDict(callback)) await Signature.fromDict(this.#app, callback).applyAsync([value], lineage);
    }
    const chain = [...(request.embed.chain ?? [])];
    const next = chain.pop();
    if (isSignatureDict(next)) await Signature.fromDict(this.#app, next).applyAsync([value], lineage, { chain: chain.length > 0 ? chain : null });
  }

  /** Errbacks get the failed task's id, as Celery's old-style errbacks. */
  async onFailure(request: TaskRequest): Promise<void> {
    for (const errback of request.embed.errbacks ?? []) {
      if (isSignatureDict(errback)) await Signature.fromDict(this.#app, errback).applyAsync([request.id], { parentId: request.id, rootId: request.rootId ?? request.id });
    }
  }

  /** The chord join for a header task that ended (SUCCESS or FAILURE). */
  async onChordPart(request: TaskRequest, meta: ResultMeta): Promise<void> {
    const chordDict = request.embed.chord;
    if (!isSignatureDict(chordDict) || request.groupId === null || !this.#app.hasBackend) return;
    const body = Signature.fromDict(this.#app, chordDict);
    const backend = this.#app.resultBackend();
    const outcome = await chordPartReturn(backend, { taskId: request.id, groupId: request.groupId, groupIndex: request.groupIndex, meta }, String(body.options.taskId ?? ''));
    if (!outcome.complete) return;
    if ('error' in outcome) {
      if (body.options.taskId) await backend.store(outcome.error);
      return;
    }
    await body.applyAsync([outcome.results]);
  }
}
