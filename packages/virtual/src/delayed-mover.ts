/**
 * `DelayedMover`: moves due delayed messages (`countdown` / `eta`) from the per-queue delayed sets
 * into their queues, on a Hub, in every process that runs one: it is started and stopped with
 * the poller, like the visibility restore sweep. Each call moves a bounded batch atomically in
 * the broker (one Lua script on Redis); a full batch is followed at once by the next. Between
 * calls it sleeps until the earliest due time it knows of, or one sweep interval, whichever is
 * sooner, so a message published by another process is moved at most one interval late and one
 * published here within {@link DELAYED_WAKE_GAP_MS} (docs/configuration.md#delayed-delivery). Nothing is held in memory: a
 * process killed at any point leaves every message in Redis for the next mover.
 */
import type { DelayedDelivery } from './channel-storage.js';
import type { EventLoopHub, HubTimer } from './event-loop-hub.js';

/**
 * How often a mover looks for due messages when it knows of none sooner: the longest a message
 * published by another process waits after its due time before it is moved (plus one call).
 */
export const DELAYED_SWEEP_INTERVAL_MS = 1000;

/** Messages moved per call: one call stays a short step of the broker even with a backlog. */
export const DELAYED_MOVE_BATCH = 500;

/**
 * The least time between two calls woken by a due time. Due times spread over every millisecond
 * would otherwise wake every mover (each process running a hub) once per message, a script call
 * each; this batches them, at the price of moving a message at most this much after it is due.
 */
export const DELAYED_WAKE_GAP_MS = 20;

export interface DelayedMoverHost {
  /** The storage to move with; undefined while there is none (no open channel or connection). */
  delayedStorage(): DelayedDelivery | undefined;
  /** Messages were moved into queues: poll them. */
  moved(): void;
  reportError(error: unknown): void;
}

export class DelayedMover {
  private started = false;
  private timers: HubTimer[] = [];
  private wakeTimer: HubTimer | undefined;
  private soonTimer: HubTimer | undefined;
  /** When the wake timer fires (epoch ms); Infinity without one. */
  private wakeAt = Number.POSITIVE_INFINITY;
  private running: Promise<void> | undefined;
  private again = false;
  /** When the last call started (epoch ms). */
  private lastRunAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly host: DelayedMoverHost,
    private readonly hub: EventLoopHub,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.timers.push(this.hub.callSoon(() => this.run()));
    this.timers.push(this.hub.callRepeatedly(DELAYED_SWEEP_INTERVAL_MS, () => this.run()));
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    for (const timer of this.timers) timer.cancel();
    this.timers = [];
    this.soonTimer?.cancel();
    this.soonTimer = undefined;
    this.clearWake();
  }

  /** A message due at `dueAtMs` was stored (by this process): wake then if that is sooner than planned. */
  dueAt(dueAtMs: number): void {
    if (this.started) this.wakeBy(dueAtMs);
  }

  /** Runs one call now (or right after the one in flight). */
  run(): void {
    if (!this.started) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const storage = this.host.delayedStorage();
    if (!storage) return;
    this.lastRunAt = this.now();
    this.running = storage
      .moveDue(this.lastRunAt, DELAYED_MOVE_BATCH)
      .then(({ moved, nextDueAt }) => {
        if (moved > 0) this.host.moved();
        if (moved >= DELAYED_MOVE_BATCH) this.again = true;
        else if (nextDueAt !== undefined) this.wakeBy(nextDueAt);
      })
      .catch((error: unknown) => this.host.reportError(error))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          if (this.started) this.soonTimer = this.hub.callSoon(() => this.run());
        }
      });
  }

  /**
   * Schedules a run at `dueAtMs` (no sooner than DELAYED_WAKE_GAP_MS after the last call) unless
   * one is planned sooner; beyond the sweep interval the sweep covers it.
   */
  private wakeBy(dueAtMs: number): void {
    const callLater = this.hub.callLater?.bind(this.hub);
    const atMs = Math.max(dueAtMs, this.lastRunAt + DELAYED_WAKE_GAP_MS);
    if (!callLater || atMs >= this.wakeAt) return;
    const delay = atMs - this.now();
    if (delay >= DELAYED_SWEEP_INTERVAL_MS) return;
    this.clearWake();
    this.wakeAt = atMs;
    // One millisecond late: the mover compares due <= now, and timers may fire a hair early.
    this.wakeTimer = callLater(Math.max(0, delay) + 1, () => {
      this.wakeTimer = undefined;
      this.wakeAt = Number.POSITIVE_INFINITY;
      this.run();
    });
  }

  private clearWake(): void {
    this.wakeTimer?.cancel();
    this.wakeTimer = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
  }
}
