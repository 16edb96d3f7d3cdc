import type { HeapEntry } from './timer-heap.js';

/** A scheduled callback that can be cancelled before it runs. */
export interface TimerHandle {
  /** Cancels the callback (for `callRepeatedly`, every future run). Safe to call twice or from inside the callback. */
  cancel(): void;
  /** True once `cancel()` was called or the hub was closed. */
  readonly cancelled: boolean;
}

/** The handle given to callers; `onCancel` unlinks the scheduled work from the hub. */
export class Handle implements TimerHandle {
  #cancelled = false;
  readonly #onCancel: () => void;

  constructor(onCancel: () => void) {
    this.#onCancel = onCancel;
  }

  /** {@inheritDoc TimerHandle.cancel} */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#onCancel();
  }

  /** {@inheritDoc TimerHandle.cancelled} */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Marks the handle cancelled without calling back (the hub already dropped the work, e.g. in close()). */
  markCancelled(): void {
    this.#cancelled = true;
  }
}

/** A timer in the heap: one per one-shot timer, one per scheduled run of a repeated timer. */
export class TimerEntry implements HeapEntry {
  heapIndex = -1;

  constructor(
    readonly when: number,
    readonly seq: number,
    readonly fire: () => void,
    readonly handle: Handle,
  ) {}
}

/** A callback in the ready set (callSoon). */
export interface ReadyItem {
  readonly cb: () => void;
  readonly handle: Handle;
}

/** True for promises and other thenables (an async callback's return value). */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
