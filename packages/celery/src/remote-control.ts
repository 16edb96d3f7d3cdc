/** Celery's remote control for a kelp worker (filled in by the remote-control step). */
import type { Connection } from '@kelp/core';

export interface RemoteControlOptions {
  hostname: string;
  app: { tick(): number; adjustClock(other: number): number };
  worker: { readonly revoked: Set<string>; readonly registered: string[] };
  onError: (error: unknown) => void;
}

export class RemoteControl {
  constructor(_connection: Connection, _options: RemoteControlOptions) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
