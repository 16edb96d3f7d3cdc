/** What a worker does for canvas after a task: callbacks, chains, chord joins (filled in by the canvas step). */
import type { ResultMeta } from './result-meta.js';
import type { TaskRequest } from './task-request.js';

export class CanvasRunner {
  constructor(_app: unknown) {}
  async onSuccess(_request: TaskRequest, _value: unknown): Promise<void> {}
  async onFailure(_request: TaskRequest, _error: unknown): Promise<void> {}
  async onChordPart(_request: TaskRequest, _meta: ResultMeta): Promise<void> {}
}
