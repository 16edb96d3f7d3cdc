import { describe, expect, it } from 'vitest';
import { shareOut } from '../src/sharded-storage.js';

describe('shareOut (the room of one sharded poll over its queues)', () => {
  it('hands out one message at a time in queue order, never more than the room', () => {
    const limits = shareOut(['a', 'b', 'c'], new Map([['a', 10], ['b', 10], ['c', 10]]), 5);
    expect([...limits]).toEqual([['a', 2], ['b', 2], ['c', 1]]);
  });

  it('skips empty queues and never asks a queue for more than it holds', () => {
    const limits = shareOut(['a', 'b', 'c', 'd'], new Map([['a', 0], ['b', 1], ['c', 7]]), 6);
    expect([...limits]).toEqual([['b', 1], ['c', 5]]);
  });

  it('takes everything when the room exceeds what waits, and nothing with no room', () => {
    expect([...shareOut(['a', 'b'], new Map([['a', 2], ['b', 1]]), 100)]).toEqual([['a', 2], ['b', 1]]);
    expect(shareOut(['a'], new Map([['a', 2]]), 0).size).toBe(0);
  });
});
