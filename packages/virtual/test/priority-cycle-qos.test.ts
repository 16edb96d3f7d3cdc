import { describe, expect, it } from 'vitest';
import {
  clampPriority,
  createQueueCycle,
  multiQueuePriorityKeys,
  priorityStep,
  QueueOrderStrategies,
  queueKeyForPriority,
  RoundRobinCycle,
} from '../src/index.js';
import { QoS } from '../src/qos.js';

describe('priorities (docs/wire-format.md#priorities)', () => {
  it.each([
    [0, 0],
    [2, 0],
    [3, 3],
    [5, 3],
    [6, 6],
    [8, 6],
    [9, 9],
  ])('maps priority %d to step %d with the default steps', (p, step) => {
    expect(priorityStep(p)).toBe(step);
  });

  it('maps a priority below the first custom step to the LAST step (bisect index -1)', () => {
    expect(priorityStep(0, [2, 5, 8])).toBe(8);
  });

  it('clamps to 0..9 and falls back to 0 for values Python int() rejects', () => {
    expect([clampPriority(-1), clampPriority(10), clampPriority('7'), clampPriority('abc'), clampPriority(undefined)]).toEqual([
      0, 9, 7, 0, 0,
    ]);
  });

  it('names step 0 by the bare queue and others with the separator', () => {
    expect(queueKeyForPriority('celery', 0)).toBe('celery');
    expect(queueKeyForPriority('celery', 3)).toBe('celery\x06\x163');
    expect(queueKeyForPriority('celery', 3, ':')).toBe('celery:3');
  });

  it('orders multi-queue keys step by step like Kombu BRPOP', () => {
    expect(multiQueuePriorityKeys(['a', 'b'], [0, 5], ':')).toEqual(['a', 'b', 'a:5', 'b:5']);
  });
});

describe('queue cycles (docs/wire-format.md#queue-order-strategies)', () => {
  it('round_robin moves the producing queue to the end', () => {
    const cycle = new RoundRobinCycle();
    cycle.update(['A', 'B', 'C']);
    cycle.rotate('B');
    expect(cycle.consume()).toEqual(['A', 'C', 'B']);
    cycle.rotate('A');
    expect(cycle.consume()).toEqual(['C', 'B', 'A']);
  });

  it('round_robin ignores rotate of an unknown queue', () => {
    const cycle = createQueueCycle('round_robin');
    cycle.update(['A', 'B']);
    cycle.rotate('Z');
    expect(cycle.consume()).toEqual(['A', 'B']);
  });

  it('priority keeps declaration order, de-duplicated, whatever rotates', () => {
    const cycle = createQueueCycle('priority');
    cycle.update(['qb', 'qa', 'qb', 'qc']);
    cycle.rotate('qb');
    expect(cycle.consume()).toEqual(['qb', 'qa', 'qc']);
  });

  it('sorted consumes alphabetically', () => {
    const cycle = createQueueCycle('sorted');
    cycle.update(['qc', 'qa', 'qb']);
    cycle.rotate('qa');
    expect(cycle.consume(2)).toEqual(['qa', 'qb']);
  });

  it('accepts user strategies by name and rejects unknown names', () => {
    const registry = new QueueOrderStrategies();
    registry.register('reverse', () => {
      const inner = new RoundRobinCycle();
      return { update: (q) => inner.update([...q].reverse()), consume: (n) => inner.consume(n), rotate: () => {}, items: inner.items };
    });
    const cycle = createQueueCycle('reverse', registry);
    cycle.update(['a', 'b']);
    expect(cycle.consume()).toEqual(['b', 'a']);
    expect(() => createQueueCycle('nope', registry)).toThrow(/queueOrderStrategy 'nope'/);
  });
});

describe('QoS (docs/wire-format.md#prefetch)', () => {
  it('is unlimited with prefetch 0', () => {
    const qos = new QoS(0);
    for (let i = 0; i < 5; i++) qos.append(`t${i}`, 'q');
    expect(qos.canConsume()).toBe(true);
    expect(qos.capacity()).toBe(Number.POSITIVE_INFINITY);
  });

  it('stops at the prefetch count and frees a slot on ack', () => {
    const qos = new QoS(2);
    qos.append('t1', 'q');
    qos.append('t2', 'q');
    expect(qos.canConsume()).toBe(false);
    expect(qos.capacity()).toBe(0);
    qos.ack('t1');
    expect(qos.capacity()).toBe(1);
    expect(qos.unackedTags()).toEqual(['t2']);
  });

  it('frees a slot on reject and keeps the rest in delivery order', () => {
    const qos = new QoS(3);
    qos.append('a', 'q1');
    qos.append('b', 'q2');
    qos.append('c', 'q1');
    qos.reject('b');
    expect(qos.unackedTags()).toEqual(['a', 'c']);
    expect(qos.get('c')?.queue).toBe('q1');
  });

  it('keeps delivery order and every answer across thousands of acks (its map is copied now and then)', () => {
    const qos = new QoS(100);
    // Ten tags always held back, the rest acked out of order, well past the copy interval.
    const held = Array.from({ length: 10 }, (_, i) => `held-${i}`);
    for (const tag of held) qos.append(tag, 'slow');
    for (let i = 0; i < 5000; i += 2) {
      qos.append(`t-${i}`, 'q');
      qos.append(`t-${i + 1}`, 'q');
      expect(qos.ack(`t-${i + 1}`)).toBe(true);
      expect(qos.reject(`t-${i}`)).toBe(true);
    }
    qos.append('last', 'q2');
    expect(qos.ack('t-1')).toBe(false);
    expect(qos.unackedTags()).toEqual([...held, 'last']);
    expect([qos.size, qos.capacity(), qos.has('held-3'), qos.get('last')?.queue]).toEqual([11, 89, true, 'q2']);
  });

  it('rejects a negative prefetch count with a ConfigurationError naming the option', () => {
    expect(() => new QoS(-1)).toThrow(/prefetchCount/);
  });
});
