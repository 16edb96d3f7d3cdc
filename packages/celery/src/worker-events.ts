/** Celery task and worker events (filled in by the events step; off until then). */
import type { Connection, Message } from '@kelp/core';
import type { TaskRequest } from './task-request.js';

export interface WorkerEventsOptions {
  enabled: boolean;
  hostname: string;
  heartbeatInterval: number;
  app: { tick(): number };
  worker: { readonly active: ReadonlyMap<string, unknown>; readonly processed: number };
}

export class WorkerEvents {
  constructor(_connection: Connection, _options: WorkerEventsOptions) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  taskReceived(_request: TaskRequest, _message: Message): void {}
  taskStarted(_request: TaskRequest): void {}
  taskSucceeded(_request: TaskRequest, _value: unknown, _runtime: number): void {}
  taskFailed(_request: TaskRequest, _error: unknown): void {}
  taskRetried(_request: TaskRequest, _error: unknown): void {}
}
