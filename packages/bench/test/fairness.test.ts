import { describe, expect, it } from 'vitest';
import { measureFairness, type Delivery } from '../src/fairness.js';

/** Deliveries of messages all published at `publishedAt`, served at the given times. */
function served(queue: number, times: readonly number[], publishedAt = 0): Delivery[] {
  return times.map((servedAt) => ({ queue, publishedAt, servedAt }));
}

describe('fairness over time windows', () => {
  it('gives 1 when two busy queues alternate, with starvation the gap between turns', () => {
    // Windows [0,2) [2,4) [4,6): each holds one delivery of each queue; [6,7.5) is not whole.
    const result = measureFairness([...served(0, [1, 3, 5, 7]), ...served(1, [1.5, 3.5, 5.5, 7.5])], { queues: 2, windowMs: 2, start: 0 });
    expect(result.windows).toBe(3);
    expect(result.windowDeliveries).toBe(6);
    expect(result.jain).toBe(1);
    expect(result.jainMin).toBe(1);
    // q0: 0->1, then 2 between turns; q1: 0->1.5, then 2.
    expect(result.starvationByQueue).toEqual([2, 2]);
    expect(result.starvationMs).toBe(2);
  });

  it('shows a queue left waiting in a low index and in the starvation figure', () => {
    // q0 (4 messages) is served first; q1 (2 messages) waits until t=10.
    const result = measureFairness([...served(0, [1, 2, 3, 4]), ...served(1, [10, 11])], { queues: 2, windowMs: 2, start: 0 });
    // [0,2): counts [1, 0] -> 0.5; [2,4): [2, 0] -> 0.5; from 4 on only q1 is busy: not counted.
    expect(result.windows).toBe(2);
    expect(result.windowDeliveries).toBe(3);
    expect(result.jain).toBe(0.5);
    expect(result.jainMin).toBe(0.5);
    expect(result.starvationMs).toBe(10);
    expect(result.starvedQueue).toBe(1);
    expect(result.starvationByQueue).toEqual([1, 10]);
  });

  it('weights each window by its deliveries', () => {
    // [0,10): q0 4, q1 0 -> 0.5 (weight 4); [10,20): q0 3, q1 3 -> 1 (weight 6); mean 0.8.
    // Both stay busy until 25, so both windows count; [20,25) is not whole.
    const deliveries = [...served(0, [1, 2, 3, 4, 11, 12, 13, 25]), ...served(1, [14, 15, 16, 25])];
    const result = measureFairness(deliveries, { queues: 2, windowMs: 10, start: 0 });
    expect(result.windows).toBe(2);
    expect(result.jain).toBeCloseTo((0.5 * 4 + 1 * 6) / 10, 12);
    expect(result.jainMin).toBe(0.5);
  });

  it('does not count a window in which only one queue held messages', () => {
    // The smallest queue empties inside the first window: the index is not one batch of it.
    const result = measureFairness([...served(1, [0.1, 0.2]), ...served(0, [0.3, 0.4, 5, 6])], { queues: 2, windowMs: 1, start: 0 });
    expect(result.windows).toBe(0);
    expect(result.jain).toBeNaN();
  });

  it('counts a queue as waiting only from the publish that made it non-empty', () => {
    // q0 is served at 1, empty until a message published at 5 is served at 6: waits 1, then 1.
    const result = measureFairness([{ queue: 0, publishedAt: 0, servedAt: 1 }, { queue: 0, publishedAt: 5, servedAt: 6 }], { queues: 1, windowMs: 1, start: 0 });
    expect(result.starvationMs).toBe(1);
  });

  it('counts messages never delivered as waiting until the end', () => {
    const result = measureFairness(served(0, [1, 2]), { queues: 2, windowMs: 1, start: 0, end: 20, undelivered: [{ queue: 1, publishedAt: 0 }] });
    expect(result.starvationMs).toBe(20);
    expect(result.starvedQueue).toBe(1);
  });

  it('treats a prefilled backlog as published at the start of the timeline', () => {
    const result = measureFairness(served(0, [101], 0), { queues: 1, windowMs: 1, start: 100 });
    expect(result.starvationMs).toBe(1);
  });
});
