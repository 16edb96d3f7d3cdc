/**
 * The callback side of a Consumer: a backlog of deliveries handled one message at a time, in
 * order. Synchronous callbacks run inside the delivery itself (so a `drainEvents()` that returns
 * has run them); once a callback returns a promise the rest of the backlog waits for it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
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

/** Which dispatcher's callback the current async context runs in (so cancel() never awaits itself). */
const insideCallback = new AsyncLocalStorage<Dispatcher>();

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';

export class Dispatcher {
  private readonly backlog: Delivery[] = [];
  private dispatching = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly host: DispatchHost) {}

  /** True when called from inside one of this dispatcher's callbacks (at any await depth). */
  get inCallback(): boolean {
    return insideCallback.getStore() === this;
  }

  get idle(): boolean {
    return !this.dispatching && this.backlog.length === 0;
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
    if (this.dispatching) return;
    this.dispatching = true;
    while (this.backlog.length > 0) {
      const message = this.host.toMessage(this.backlog.shift() as Delivery);
      let result: void | Promise<void>;
      try {
        result = insideCallback.run(this, () => this.host.handle(message));
      } catch (error) {
        this.host.report(error, message);
        this.host.handled();
        continue;
      }
      if (isThenable(result)) {
        // Only an async callback can outlive the visibility timeout: a synchronous one blocks
        // the timers that would extend it anyway.
        const stopKeepAlive = this.host.keepAlive(message);
        Promise.resolve(result)
          .then(undefined, (error: unknown) => this.host.report(error, message))
          .finally(() => {
            stopKeepAlive?.();
            this.dispatching = false;
            this.host.handled();
            this.pump();
          });
        return;
      }
      this.host.handled();
    }
    this.dispatching = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
