/**
 * The publish side of the route-and-push script: one call per channel and tick.
 */
import { ChannelError } from '@kelp/core';
import type { Redis } from 'ioredis';
import { call, type Arg } from './scripts.js';

/** Messages per `routeAndPush` call: bounds how long one call holds the server. */
const PUSHES_PER_CALL = 1000;

/** One publish waiting for the tick's `routeAndPush` call. */
interface PendingPush {
  /**
   * 'q': push to `target` (a queue); 'd': route by `routingKey` over binding set `target`;
   * 't': push to the queues JSON-encoded in `routingKey` if set `target` is unchanged.
   */
  mode: 'q' | 'd' | 't';
  target: string;
  routingKey: string;
  suffix: string;
  envelope: string;
  resolve: (reply: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces the pushes (and direct-exchange publishes) of one tick into one `routeAndPush` script
 * call (route-and-push-0.lua). One per channel, so a channel's publishes reach Redis in the order
 * they were issued (AMQP orders per channel too). Each publish settles from its own entry of the
 * reply: a push that failed (e.g. WRONGTYPE) fails only its publish, with the error `wrapError`
 * makes of it.
 */
export class PushBatcher {
  private pending: PendingPush[] = [];
  /** Mode 't' of the pending call: binding set key -> the members its queues were matched with. */
  private tables = new Map<string, readonly string[]>();

  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly sep: string,
    private readonly wrapError: (error: unknown) => Error,
  ) {}

  /** LPUSH `envelope` to `queue` + `suffix` (the priority sub-list). */
  push(queue: string, suffix: string, envelope: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.enqueue({ mode: 'q', target: queue, routingKey: '', suffix, envelope, resolve: () => resolve(), reject });
    });
  }

  /** Routes through a direct exchange's binding set and pushes; resolves with the queues reached. */
  routeDirect(bindingKey: string, routingKey: string, suffix: string, envelope: string): Promise<string[]> {
    return new Promise<string[]>((resolve, reject) => {
      const done = (queues: unknown): void => resolve(Array.isArray(queues) ? (queues as string[]) : []);
      this.enqueue({ mode: 'd', target: bindingKey, routingKey, suffix, envelope, resolve: done, reject });
    });
  }

  /**
   * Pushes to `queues`, matched by the caller against `members` (its copy of binding set
   * `bindingKey`), only if the set still holds exactly those members when the push runs;
   * resolves 'stale' (nothing pushed) otherwise.
   */
  routeChecked(bindingKey: string, members: readonly string[], queues: readonly string[], suffix: string, envelope: string): Promise<string[] | 'stale'> {
    const known = this.tables.get(bindingKey);
    // One copy per set and call: a newer copy than the one already in this call waits for a retry.
    if (known !== undefined && known !== members) return Promise.resolve('stale');
    this.tables.set(bindingKey, members);
    return new Promise<string[] | 'stale'>((resolve, reject) => {
      const done = (reply: unknown): void => resolve(reply === 'stale' ? 'stale' : Array.isArray(reply) ? (reply as string[]) : []);
      this.enqueue({ mode: 't', target: bindingKey, routingKey: JSON.stringify(queues), suffix, envelope, resolve: done, reject });
    });
  }

  private enqueue(item: PendingPush): void {
    // nextTick: every publish issued by the current callback and its microtasks joins this call.
    if (this.pending.push(item) === 1) process.nextTick(() => this.flush());
  }

  private flush(): void {
    const items = this.pending;
    const tables = this.tables.size === 0 ? '{}' : JSON.stringify(Object.fromEntries(this.tables));
    this.pending = [];
    this.tables = new Map();
    for (let i = 0; i < items.length; i += PUSHES_PER_CALL) this.send(items.length <= PUSHES_PER_CALL ? items : items.slice(i, i + PUSHES_PER_CALL), tables);
  }

  private send(items: readonly PendingPush[], tables: string): void {
    const args: Arg[] = [this.prefix, this.sep, tables];
    for (const item of items) args.push(item.mode, item.target, item.routingKey, item.suffix, item.envelope);
    call(this.client, 'routeAndPush', args).then(
      (reply) => {
        const results = Array.isArray(reply) ? (reply as unknown[]) : [];
        items.forEach((item, i) => {
          const result = results[i];
          if (result instanceof Error) item.reject(this.wrapError(result));
          else if (result === undefined) item.reject(new ChannelError('routeAndPush replied without an entry for this message'));
          else item.resolve(result);
        });
      },
      (error: unknown) => {
        for (const item of items) item.reject(error);
      },
    );
  }
}
