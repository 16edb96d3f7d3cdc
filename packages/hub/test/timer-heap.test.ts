import { describe, expect, it } from 'vitest';
import { TimerHeap, type HeapEntry } from '../src/timer-heap.js';

interface Item extends HeapEntry {
  readonly id: string;
}

let seq = 0;
const item = (id: string, when: number): Item => ({ id, when, seq: seq++, heapIndex: -1 });

const drain = (heap: TimerHeap<Item>): string[] => {
  const ids: string[] = [];
  for (let top = heap.pop(); top !== undefined; top = heap.pop()) ids.push(top.id);
  return ids;
};

describe('TimerHeap', () => {
  it('pops entries in deadline order', () => {
    const heap = new TimerHeap<Item>();
    for (const [id, when] of [['c', 30], ['a', 10], ['e', 50], ['b', 20], ['d', 40]] as const) heap.push(item(id, when));
    expect(drain(heap)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('pops equal deadlines in insertion order', () => {
    const heap = new TimerHeap<Item>();
    for (const id of ['1', '2', '3', '4', '5', '6']) heap.push(item(id, 7));
    expect(drain(heap)).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('removes an entry from the middle and keeps the order of the rest', () => {
    const heap = new TimerHeap<Item>();
    const entries = [5, 3, 8, 1, 9, 2, 7].map((when) => item(`t${when}`, when));
    for (const entry of entries) heap.push(entry);
    const t8 = entries[2] as Item;
    expect(heap.remove(t8)).toBe(true);
    expect(heap.remove(t8)).toBe(false);
    expect(heap.size).toBe(6);
    expect(drain(heap)).toEqual(['t1', 't2', 't3', 't5', 't7', 't9']);
  });

  it('stays ordered after many random pushes and removals', () => {
    const heap = new TimerHeap<Item>();
    // Deterministic pseudo-random deadlines (LCG) so a failure reproduces.
    let x = 12345;
    const next = (): number => (x = (x * 1103515245 + 12345) % 2 ** 31) % 1000;
    const live: Item[] = [];
    for (let i = 0; i < 300; i++) {
      const entry = item(`i${i}`, next());
      heap.push(entry);
      live.push(entry);
      if (i % 3 === 0) heap.remove(live.splice(next() % live.length, 1)[0] as Item);
    }
    const popped: Item[] = [];
    for (let top = heap.pop(); top !== undefined; top = heap.pop()) popped.push(top);
    const expected = [...live].sort((a, b) => a.when - b.when || a.seq - b.seq);
    expect(popped.map((e) => e.id)).toEqual(expected.map((e) => e.id));
  });
});
