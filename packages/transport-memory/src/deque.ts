/**
 * A growable ring buffer with Redis list semantics for one queue list: `pushBack` is Kombu's
 * LPUSH (consumed last), `pushFront` its RPUSH (consumed next), `popFront` its RPOP.
 */
export class Deque<T> {
  private buffer: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buffer.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.buffer[(this.head + i) % this.buffer.length];
    this.buffer = next;
    this.head = 0;
  }

  pushBack(value: T): void {
    if (this.count === this.buffer.length) this.grow();
    this.buffer[(this.head + this.count) % this.buffer.length] = value;
    this.count++;
  }

  pushFront(value: T): void {
    if (this.count === this.buffer.length) this.grow();
    this.head = (this.head - 1 + this.buffer.length) % this.buffer.length;
    this.buffer[this.head] = value;
    this.count++;
  }

  popFront(): T | undefined {
    if (this.count === 0) return undefined;
    const value = this.buffer[this.head];
    this.buffer[this.head] = undefined;
    this.head = (this.head + 1) % this.buffer.length;
    this.count--;
    return value;
  }

  /** The item `index` places after the next to be consumed (0 = next); undefined past the end. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.count) return undefined;
    return this.buffer[(this.head + index) % this.buffer.length];
  }

  /** Removes the item at `index` (0 = next to be consumed), keeping the order of the rest. */
  removeAt(index: number): void {
    if (index < 0 || index >= this.count) return;
    const items = this.toArray();
    items.splice(index, 1);
    this.clear();
    for (const item of items) this.pushBack(item);
  }

  /** Items from next-to-consume to last. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.buffer[(this.head + i) % this.buffer.length] as T);
    return out;
  }

  clear(): void {
    this.buffer = new Array<T | undefined>(16);
    this.head = 0;
    this.count = 0;
  }
}
