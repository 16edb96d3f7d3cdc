/**
 * `processConcurrently`: the async-iterator form of a Consumer's `concurrency` option. A
 * `for await` loop handles one message at a time; this pulls the next item while fewer than
 * `concurrency` handlers are running, so an iterator user gets the same overlap (and the same
 * coalesced acks) as a callback consumer.
 */
import { z } from 'zod';
import { OptionNames, parseOptions } from './option-parsing.js';

export interface ProcessConcurrentlyOptions<T> {
  /** Handlers running at once (>= 1). */
  concurrency: number;
  /** Stops pulling new items; resolves once the running handlers are done. */
  signal?: AbortSignal;
  /**
   * Takes a handler's error and lets the others go on. Without it the first error stops pulling,
   * the running handlers finish, and the call rejects with that error.
   */
  onError?: (error: unknown, item: T) => void;
}

const optionNames = OptionNames.of<ProcessConcurrentlyOptions<unknown>>({ concurrency: true, signal: true, onError: true });
const optionsSchema = z.object({
  concurrency: z.number().int().min(1),
  signal: z.instanceof(AbortSignal).optional(),
  onError: z.function().optional(),
});

/**
 * Runs `handler` on each item of `source` with up to `concurrency` handlers in flight. Leaving
 * (the source ends or fails, `signal` aborts, or a handler fails without `onError`) closes the
 * iterator, which for `consumer.messages()` hands prefetched, never-yielded messages back to their
 * queues, and waits for the running handlers before it settles. An item the source hands over
 * while the call is leaving is still handled, never dropped. Items start in the source's order
 * and may finish in any order.
 */
export async function processConcurrently<T>(
  source: AsyncIterable<T>,
  handler: (item: T) => void | Promise<void>,
  options: ProcessConcurrentlyOptions<T>,
): Promise<void> {
  const { concurrency, signal, onError } = parseOptions(optionsSchema, options, 'processConcurrently', optionNames) as ProcessConcurrentlyOptions<T>;
  const iterator = source[Symbol.asyncIterator]();
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const start = (item: T): void => {
    const task = (async () => {
      try {
        await handler(item);
      } catch (error) {
        if (onError) onError(error, item);
        else failure ??= { error };
      }
    })().finally(() => running.delete(task));
    running.add(task);
  };
  let pending: Promise<IteratorResult<T>> | undefined;
  try {
    while (!failure && !signal?.aborted) {
      if (running.size >= concurrency) {
        await Promise.race(running);
        continue;
      }
      pending ??= iterator.next();
      // A handler finishing frees a slot even while the source waits for its next item; an abort
      // ends the wait for either.
      const next = await untilAborted<IteratorResult<T> | void>(signal, [pending, ...running]);
      if (next === ABORTED) break;
      if (next === undefined) continue; // a handler finished first (its promise holds no value)
      pending = undefined;
      if (next.done) break;
      start(next.value);
    }
  } finally {
    // Close first: a next() still waiting then ends empty-handed, or (an async generator, whose
    // return() waits behind it) hands its item over; that item is run, not dropped.
    const closing = Promise.resolve(iterator.return?.()).then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    if (pending) {
      const last = await Promise.race([pending.then((result) => result, () => undefined), closing.then(() => undefined)]);
      if (last && !last.done) start(last.value);
    }
    await Promise.all(running);
    const closed = await closing;
    failure ??= closed;
  }
  if (failure) throw failure.error;
}

const ABORTED: unique symbol = Symbol('aborted');

/**
 * Races `promises` and, when given, `signal`: the abort listener lives for this one wait only, so
 * a long run does not pile reactions onto a promise that never settles.
 */
async function untilAborted<R>(signal: AbortSignal | undefined, promises: readonly Promise<R>[]): Promise<R | typeof ABORTED> {
  if (!signal) return Promise.race(promises);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([...promises, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort as () => void);
  }
}
