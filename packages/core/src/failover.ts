/**
 * Which broker URL to try next (Kombu's `failover_strategy`, docs/kombu-compatibility.md#failover).
 * The first URL is used first; every failed connection attempt switches to the next one, and
 * `ensureConnection` sleeps only after a complete cycle through all of them.
 */

/** A custom strategy: given the URLs, yields the ones to switch to, forever. */
export type FailoverIterator = (urls: readonly string[]) => Iterator<string>;

export type FailoverStrategy = 'round-robin' | 'shuffle' | FailoverIterator;

export class FailoverCycle {
  readonly urls: readonly string[];
  #current: string;
  readonly #iterator: Iterator<string>;

  constructor(urls: readonly string[], strategy: FailoverStrategy = 'round-robin', random: () => number = Math.random) {
    const first = urls[0];
    if (first === undefined) throw new RangeError('FailoverCycle needs at least one URL');
    this.urls = urls;
    this.#current = first;
    if (strategy === 'round-robin') {
      this.#iterator = roundRobin(urls);
    } else if (strategy === 'shuffle') {
      this.#iterator = shuffle(urls, random);
    } else {
      this.#iterator = strategy(urls);
    }
  }

  /** The URL connection attempts go to now. */
  get current(): string {
    return this.#current;
  }

  get size(): number {
    return this.urls.length;
  }

  /** Switches to the next URL and returns it (stays put when the custom iterator has ended). */
  next(): string {
    const step = this.#iterator.next();
    if (!step.done) this.#current = step.value;
    return this.#current;
  }

  /**
   * True when failure number `retries` (0-based) ends a full pass over the URLs: the moment Kombu's
   * `completes_cycle` lets `ensureConnection` sleep.
   */
  completesCycle(retries: number): boolean {
    return (retries + 1) % this.urls.length === 0;
  }
}

/** Kombu's `itertools.cycle`, advanced past the first URL because that one is tried first. */
function* roundRobin(urls: readonly string[]): Iterator<string> {
  for (let index = 1; ; index++) yield urls[index % urls.length] as string;
}

/** Kombu's `shuffle` strategy: a random URL each time (it may repeat the current one). */
function* shuffle(urls: readonly string[], random: () => number): Iterator<string> {
  for (;;) yield urls[Math.min(urls.length - 1, Math.floor(random() * urls.length))] as string;
}
