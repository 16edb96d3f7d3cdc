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
 * (the source ends, `signal` aborts, or a handler fails without `onError`) closes the iterator,
 * which for `consumer.messages()` hands prefetched, never-yielded messages back to their queues.
 * Items start in the source's order and may finish in any order.
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
  const run = async (item: T): Promise<void> => {
    try {
      await handler(item);
    } catch (error) {
      if (onError) onError(error, item);
      else failure ??= { error };
    }
  };
  // The pending next() races the handlers: a handler finishing frees a slot even while the
  // source waits for its next item, and an abort ends the wait for either.
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal?.aborted) resolve('aborted');
    signal?.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  let pending: Promise<IteratorResult<T>> | undefined;
  try {
    while (!failure && !signal?.aborted) {
      if (running.size >= concurrency) {
        await Promise.race([...running, aborted]);
        continue;
      }
      pending ??= iterator.next();
      const next = await Promise.race([pending, aborted, ...running]);
      if (next === 'aborted') break;
      if (next === undefined) continue; // a handler finished first
      pending = undefined;
      if (next.done) break;
      start(next.value);
    }
  } finally {
    // Close first: a next() still waiting then ends empty-handed (the iterator gives its buffered
    // items back); one that already took an item has settled, and that item is run, not dropped.
    const closing = iterator.return?.();
    if (pending) {
      const last = await Promise.race([pending, Promise.resolve(undefined)]);
      if (last && !last.done) start(last.value);
    }
    await Promise.all(running);
    await closing;
  }
  if (failure) throw failure.error;

  function start(item: T): void {
    const task = run(item).finally(() => running.delete(task));
    running.add(task);
  }
}
