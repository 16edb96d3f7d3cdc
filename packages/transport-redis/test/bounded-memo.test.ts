import { describe, expect, it } from 'vitest';
import { BoundedMemo } from '../src/bounded-memo.js';

describe('BoundedMemo', () => {
  it('computes each name once and starts over when full', () => {
    const computed: string[] = [];
    const memo = new BoundedMemo(2, (name) => {
      computed.push(name);
      return name.toUpperCase();
    });
    expect([memo.get('a'), memo.get('b'), memo.get('a')]).toEqual(['A', 'B', 'A']);
    expect(computed).toEqual(['a', 'b']);
    // Full: the third name clears the memo, so 'a' is computed again afterwards.
    expect([memo.get('c'), memo.get('a')]).toEqual(['C', 'A']);
    expect(computed).toEqual(['a', 'b', 'c', 'a']);
  });
});
