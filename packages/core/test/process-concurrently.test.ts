import { describe, expect, it } from 'vitest';
import { ConfigurationError, processConcurrently } from '../src/index.js';

/** An async source of `count` numbers that records whether it was closed and how far it got. */
function source(count: number): { items: AsyncIterable<number>; pulled: () => number; closed: () => boolean } {
  let pulled = 0;
  let closed = false;
  const items = {
    [Symbol.asyncIterator]() {
      return {
        next: async (): Promise<IteratorResult<number>> => {
          await new Promise((resolve) => setTimeout(resolve, 0));
          if (closed || pulled >= count) return { value: undefined, done: true };
          return { value: ++pulled, done: false };
        },
        return: async (): Promise<IteratorResult<number>> => {
          closed = true;
          return { value: undefined, done: true };
        },
      };
    },
  };
  return { items, pulled: () => pulled, closed: () => closed };
}

const tick = (ms = 2): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('processConcurrently', () => {
  it('runs every item with at most `concurrency` handlers at once', async () => {
    const { items, closed } = source(20);
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await processConcurrently(
      items,
      async (n) => {
        running++;
        peak = Math.max(peak, running);
        await tick(30 + (n % 3));
        running--;
        done.push(n);
      },
      { concurrency: 4 },
    );
    expect(peak).toBe(4);
    expect([...done].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_u, i) => i + 1));
    expect(closed()).toBe(true);
  });

  it('stops pulling at the first error, lets running handlers finish, then rejects with it', async () => {
    const { items, pulled, closed } = source(100);
    const finished: number[] = [];
    const run = processConcurrently(
      items,
      async (n) => {
        await tick(n === 2 ? 10 : 30);
        if (n === 2) throw new Error('item 2 failed');
        finished.push(n);
      },
      { concurrency: 3 },
    );
    await expect(run).rejects.toThrow('item 2 failed');
    expect(closed()).toBe(true);
    expect(pulled()).toBeLessThan(10);
    expect(finished).toEqual(expect.arrayContaining([1, 3]));
  });

  it('goes on past failures given to onError', async () => {
    const { items } = source(6);
    const failed: number[] = [];
    await processConcurrently(
      items,
      async (n) => {
        if (n % 2 === 0) throw new Error(`even ${n}`);
      },
      { concurrency: 2, onError: (_error, n) => failed.push(n) },
    );
    expect(failed.sort()).toEqual([2, 4, 6]);
  });

  it('stops pulling when its signal aborts and waits for the handlers in flight', async () => {
    const { items, pulled, closed } = source(1_000);
    const controller = new AbortController();
    let finished = 0;
    const run = processConcurrently(
      items,
      async () => {
        await tick(5);
        finished++;
      },
      { concurrency: 2, signal: controller.signal },
    );
    await tick(20);
    controller.abort();
    await run;
    expect(closed()).toBe(true);
    expect(pulled()).toBeLessThan(1_000);
    expect(finished).toBe(pulled());
  });

  it('refuses a misspelt option with the accepted names', async () => {
    const { items } = source(1);
    await expect(processConcurrently(items, () => {}, { concurency: 2 } as never)).rejects.toBeInstanceOf(ConfigurationError);
  });
});

describe('processConcurrently when leaving', () => {
  it('lets the running handlers finish before it rejects with the source failure', async () => {
    let finished = false;
    let pulls = 0;
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          pulls++;
          if (pulls === 1) return { value: 1, done: false };
          await tick(10);
          throw new Error('source timeout');
        },
        return: async () => ({ value: undefined, done: true }),
      }),
    };
    const run = processConcurrently(
      source,
      async () => {
        await tick(100);
        finished = true;
      },
      { concurrency: 2 },
    );
    await expect(run).rejects.toThrow('source timeout');
    expect(finished).toBe(true);
  });

  it('handles an item an async generator hands over after the abort, instead of dropping it', async () => {
    const handled: number[] = [];
    const yielded: number[] = [];
    const controller = new AbortController();
    async function* generate(): AsyncGenerator<number> {
      for (let i = 0; i < 3; i++) {
        await tick(20);
        yielded.push(i);
        yield i;
      }
    }
    setTimeout(() => controller.abort(), 30);
    await processConcurrently(generate(), (i) => void handled.push(i), { concurrency: 1, signal: controller.signal });
    expect(handled).toEqual(yielded);
  });

  it('keeps its heap flat over a long run with a signal that never aborts', async () => {
    async function* count(n: number): AsyncGenerator<number> {
      for (let i = 0; i < n; i++) yield i;
    }
    const peakHeap = async (n: number): Promise<number> => {
      let peak = 0;
      const { signal } = new AbortController();
      await processConcurrently(
        count(n),
        async (i) => {
          if (i % 20_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
        },
        { concurrency: 4, signal },
      );
      return peak;
    };
    const small = await peakHeap(20_000);
    const large = await peakHeap(400_000);
    // Reactions piled on one never-settling abort promise would add some 130 MB here.
    expect(large - small).toBeLessThan(30e6);
  }, 60_000);
});
