import { describe, expect, it } from 'vitest';
import { RecycleCounter } from '../src/recycle-counter.js';

describe('RecycleCounter', () => {
  it('says to copy on every n-th removal, and only then', () => {
    const counter = new RecycleCounter(3);
    const answers = Array.from({ length: 7 }, () => counter.removed());
    expect(answers).toEqual([false, false, true, false, false, true, false]);
  });
});
