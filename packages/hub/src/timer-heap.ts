/**
 * An entry of a {@link TimerHeap}. `seq` breaks ties between equal deadlines so that timers due at the
 * same time fire in the order they were scheduled (FIFO). `heapIndex` is maintained by the heap so
 * a cancelled timer can be removed in O(log n) instead of lingering until its deadline: a consumer
 * that re-arms a long timeout on every message would otherwise grow the heap without bound.
 */
export interface HeapEntry {
  /** Deadline in clock milliseconds. */
  readonly when: number;
  /** Insertion sequence number; lower fires first among equal deadlines. */
  readonly seq: number;
  /** Position in the heap array, or -1 when not in a heap. Owned by the heap. */
  heapIndex: number;
}

/** A binary min-heap ordered by `(when, seq)`. */
export class TimerHeap<T extends HeapEntry> {
  readonly #items: T[] = [];

  /** Number of entries. */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest entry without removing it. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds an entry. */
  push(entry: T): void {
    entry.heapIndex = this.#items.length;
    this.#items.push(entry);
    this.#siftUp(entry.heapIndex);
  }

  /** Removes and returns the earliest entry. */
  pop(): T | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Removes `entry` if it is in this heap; returns whether it was. */
  remove(entry: T): boolean {
    const index = entry.heapIndex;
    if (index < 0 || this.#items[index] !== entry) return false;
    const last = this.#items.pop() as T;
    entry.heapIndex = -1;
    if (last !== entry) {
      this.#items[index] = last;
      last.heapIndex = index;
      this.#siftDown(index);
      this.#siftUp(last.heapIndex);
    }
    return true;
  }

  /** Removes every entry and returns them (in no particular order). */
  clear(): T[] {
    const items = this.#items.splice(0);
    for (const item of items) item.heapIndex = -1;
    return items;
  }

  #less(a: T, b: T): boolean {
    return a.when < b.when || (a.when === b.when && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const a = this.#items[i] as T;
    const b = this.#items[j] as T;
    this.#items[i] = b;
    this.#items[j] = a;
    b.heapIndex = i;
    a.heapIndex = j;
  }

  #siftUp(index: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(this.#items[i] as T, this.#items[parent] as T)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(index: number): void {
    const n = this.#items.length;
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && this.#less(this.#items[left] as T, this.#items[smallest] as T)) smallest = left;
      if (right < n && this.#less(this.#items[right] as T, this.#items[smallest] as T)) smallest = right;
      if (smallest === i) return;
      this.#swap(i, smallest);
      i = smallest;
    }
  }
}
