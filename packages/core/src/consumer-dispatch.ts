/**
 * The callback side of a Consumer: a backlog of deliveries handed to the callbacks in delivery
 * order, with up to `concurrency` callbacks in flight at once. Synchronous callbacks run inside
 * the delivery itself (so a `drainEvents()` that returns has run them); a callback that returns a
 * promise holds one of the `concurrency` slots until it settles. With one slot (the default) the
 * next message waits for the previous callback: strict order, as in Kombu.
 */
import type { Message } from './message.js';
import type { Delivery } from './message-types.js';

export interface DispatchHost {
  toMessage(delivery: Delivery): Message;
  /** Decodes and runs the callbacks; may throw or reject. */
  handle(message: Message): void | Promise<void>;
  report(error: unknown, message: Message | undefined): void;
  /** Starts the visibility keep-alive for a callback that went async; returns its stopper. */
  keepAlive(message: Message): (() => void) | undefined;
  /** A message has been through the callbacks (whether they succeeded or not). */
  handled(): void;
}

/**
 * The name of the async method that awaits a callback's promise. V8's zero-cost async stack
 * traces list it ("at async Dispatcher.awaitConsumerCallback") when code runs inside a callback
 * at any await depth, which is how `inCallback` sees an async callback without AsyncLocalStorage:
 * on Node 20 that turns on promise hooks for every promise in the process.
 * The match leaves out the "async " prefix, which source-map stack rewriters (vitest) drop.
 * Where the stack cannot tell (a `.then` chain, a custom stack format), cancel() waits as it
 * does for a caller outside the callback, up to its timeout.
 */
const AWAIT_FRAME = 'awaitConsumerCallback';
/** Room for deep user stacks: async frames come after the synchronous ones. */
const STACK_DEPTH = 200;

function stackShowsAsyncCallback(): boolean {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = STACK_DEPTH;
  try {
    // The class name is left out (a minifier may rename classes, not methods); a custom
    // Error.prepareStackTrace may return something else than a string, or throw.
    const stack: unknown = new Error().stack;
    return typeof stack === 'string' && stack.includes(`.${AWAIT_FRAME} `);
  } catch {
    return false;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';

export class Dispatcher {
  private readonly backlog: Delivery[] = [];
  /** True while `pump` runs (re-entrant deliveries from a callback only queue). */
  private pumping = false;
  /** Async callbacks whose promise is pending. */
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /** > 0 while a callback runs synchronously (re-entrant: a callback may drain events). */
  private syncDepth = 0;

  constructor(
    private readonly host: DispatchHost,
    /** Async callbacks allowed in flight at once (>= 1). */
    readonly concurrency = 1,
  ) {}

  /**
   * True when called from inside one of this dispatcher's callbacks: exactly in its synchronous
   * part; after an await, when the chain from the caller up to the callback is made of awaits
   * (`.then` chains and timers break V8's async stack, so such a caller counts as outside). With
   * async callbacks of two consumers in flight, one cancelling the other also counts as inside:
   * cancel() then returns without waiting rather than risk waiting for itself.
   */
  get inCallback(): boolean {
    if (this.syncDepth > 0) return true;
    return this.inFlight > 0 && stackShowsAsyncCallback();
  }

  get idle(): boolean {
    return !this.pumping && this.inFlight === 0 && this.backlog.length === 0;
  }

  push(delivery: Delivery): void {
    this.backlog.push(delivery);
    this.pump();
  }

  /** Removes and returns the queued deliveries that `keep` does not hold back. */
  take(keep: (delivery: Delivery) => boolean): Delivery[] {
    const taken: Delivery[] = [];
    const kept: Delivery[] = [];
    for (const delivery of this.backlog) (keep(delivery) ? kept : taken).push(delivery);
    this.backlog.splice(0, this.backlog.length, ...kept);
    return taken;
  }

  /** Resolves true once every queued message has been through the callbacks; false after `timeout` seconds. */
  whenIdle(timeout?: number): Promise<boolean> {
    if (this.idle) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((waiter) => waiter !== done);
          resolve(false);
        }, timeout * 1000);
      }
    });
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    while (this.inFlight < this.concurrency && this.backlog.length > 0) {
      const message = this.host.toMessage(this.backlog.shift() as Delivery);
      let result: void | Promise<void>;
      this.syncDepth++;
      try {
        result = this.host.handle(message);
      } catch (error) {
        this.host.report(error, message);
        this.host.handled();
        continue;
      } finally {
        this.syncDepth--;
      }
      if (isThenable(result)) {
        this.inFlight++;
        void this.awaitConsumerCallback(result, message);
      } else {
        this.host.handled();
      }
    }
    this.pumping = false;
    if (this.idle) this.wakeIdleWaiters();
  }

  private wakeIdleWaiters(): void {
    if (this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Named for `inCallback` (see AWAIT_FRAME): it must `await` the callback's promise directly. */
  private async awaitConsumerCallback(result: PromiseLike<void>, message: Message): Promise<void> {
    // Only an async callback can outlive the visibility timeout: a synchronous one blocks
    // the timers that would extend it anyway.
    const stopKeepAlive = this.host.keepAlive(message);
    try {
      await result;
    } catch (error) {
      this.host.report(error, message);
    } finally {
      stopKeepAlive?.();
      this.inFlight--;
      this.host.handled();
      this.pump();
    }
  }
}
