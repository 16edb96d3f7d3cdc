/**
 * ChannelConsumers alone: which consumer a queue's messages go to, and which queues the cycle polls.
 */
import { describe, expect, it } from 'vitest';
import { ChannelConsumers } from '../src/channel-consumers.js';
import { RoundRobinCycle } from '../src/index.js';

const consumer = (tag: string, queue: string, noAck = false) => ({ tag, queue, noAck, onDelivery: () => undefined });

describe('ChannelConsumers', () => {
  it('sends a queue to the consumer added last, and back to the previous one when that is removed', () => {
    const consumers = new ChannelConsumers(new RoundRobinCycle());
    consumers.add(consumer('a', 'q'));
    consumers.add(consumer('b', 'q', true));
    expect([consumers.receiverOf('q')?.tag, consumers.noAckFor('q'), consumers.countFor('q')]).toEqual(['b', true, 2]);
    expect(consumers.remove('b')?.tag).toBe('b');
    expect([consumers.receiverOf('q')?.tag, consumers.noAckFor('q'), consumers.countFor('q')]).toEqual(['a', false, 1]);
  });

  it('polls a queue once however many consumers it has, and drops it with its last consumer', () => {
    const cycle = new RoundRobinCycle();
    const consumers = new ChannelConsumers(cycle);
    consumers.add(consumer('a', 'q1'));
    consumers.add(consumer('b', 'q2'));
    consumers.add(consumer('c', 'q1'));
    expect(consumers.queues()).toEqual(['q1', 'q2']);
    consumers.remove('a');
    expect(cycle.items).toEqual(['q1', 'q2']);
    consumers.remove('c');
    expect([consumers.queues(), consumers.noAckFor('q1'), consumers.size]).toEqual([['q2'], undefined, 1]);
  });

  it('ignores an unknown tag', () => {
    const consumers = new ChannelConsumers(new RoundRobinCycle());
    consumers.add(consumer('a', 'q'));
    expect(consumers.remove('nope')).toBeUndefined();
    expect(consumers.tags()).toEqual(['a']);
  });
});
