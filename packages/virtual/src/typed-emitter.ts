/**
 * A minimal typed event emitter. Unlike Node's EventEmitter, emitting `error` without a listener
 * does not throw: a background failure must never crash the consumer's process, so it is kept in
 * `lastError` instead.
 */
type Listener<A extends unknown[]> = (...args: A) => void;
// Listeners are stored type-erased; `on`/`emit` keep the per-event types at the boundary.
type AnyListener = (...args: unknown[]) => void;

export class TypedEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  private readonly listeners = new Map<keyof Events, Set<AnyListener>>();
  /** The last error emitted while nobody listened to `error`. */
  lastError: unknown = undefined;

  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as unknown as AnyListener);
    return this;
  }

  once<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    const wrapper = (...args: Events[E]) => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  off<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    this.listeners.get(event)?.delete(listener as unknown as AnyListener);
    return this;
  }

  listenerCount<E extends keyof Events>(event: E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Calls every listener; a throwing listener does not stop the others. Returns whether any listened. */
  emit<E extends keyof Events>(event: E, ...args: Events[E]): boolean {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) {
      if (event === 'error') this.lastError = args[0];
      return false;
    }
    for (const listener of [...set]) {
      try {
        listener(...(args as unknown[]));
      } catch (error) {
        if (event !== 'error') this.emit('error' as E, ...([error] as unknown as Events[E]));
        else this.lastError = error;
      }
    }
    return true;
  }
}
