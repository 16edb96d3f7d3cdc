/** The part of `@kelp/hub`'s Hub the pollers and the delayed mover use (structural, so tests may pass a fake). */

/** A cancellable Hub timer (structural subset of `@kelp/hub`'s TimerHandle). */
export interface HubTimer {
  cancel(): void;
}

/** The part of `@kelp/hub`'s Hub a poller uses (kept structural so tests may pass a fake). */
export interface EventLoopHub {
  onTick(cb: () => void): () => void;
  /** Called when a run loop returns; a fake without it gets no blocking waits (see the Redis poller). */
  onStop?(cb: () => void): () => void;
  callSoon(cb: () => void): HubTimer;
  callRepeatedly(intervalMs: number, cb: () => void): HubTimer;
  /** Runs `cb` once after `delayMs`; a fake without it leaves the delayed mover to its sweep interval. */
  callLater?(delayMs: number, cb: () => void): HubTimer;
  addReader(source: object, cb: (source: object) => void): void;
  removeReader(source: object): void;
  notifyReadable(source: object): void;
  /** Lets a sleeping `runUntil` re-check its predicate: something settled outside the hub's callbacks. */
  wake?(): void;
}
