/**
 * ChannelAdmission alone: the checks a taken message passes, and where a failing one goes.
 */
import { ChannelError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { ChannelAdmission } from '../src/channel-admission.js';
import type { UnackedStore } from '../src/channel-storage.js';
import { rememberQueueArguments } from '../src/queue-arguments.js';
import { BrokerState, encodeEnvelope, markRedelivered, parseVirtualTransportOptions, type VirtualTransportOptionsInput } from '../src/index.js';
import { message, TestStorage, TestStore } from './helpers/test-storage.js';

function setup(options: VirtualTransportOptionsInput = {}, unacked: Partial<UnackedStore> = {}) {
  const store = new TestStore();
  const storage = new TestStorage(store);
  Object.assign(storage, { unacked: { ...storage.unacked, ...unacked } });
  const brokerState = new BrokerState('testvh');
  const reported: { queue: string; reason: string }[] = [];
  const errors: unknown[] = [];
  const admission = new ChannelAdmission({
    storage,
    options: parseVirtualTransportOptions(options),
    brokerState,
    reports: { reportDeadLettered: (info) => reported.push(info), reportExpired: () => undefined, reportError: (error) => errors.push(error) },
  });
  return { store, admission, brokerState, reported, errors };
}

const envelope = (body: string, tag: string, headers: Record<string, string> = {}) =>
  encodeEnvelope({ ...message(body), headers }, '', 'q', tag);

describe('admit', () => {
  it('accepts a valid envelope and hands back its parsed tag', () => {
    const { admission } = setup();
    const checked = admission.admit('q', envelope('hi', 't1'));
    expect(checked.ok && checked.envelope.deliveryTag).toBe('t1');
  });

  it('refuses a payload over maxMessageBytes with the byte count in the reason', () => {
    const { admission } = setup({ maxMessageBytes: 100 });
    const checked = admission.admit('q', envelope('x'.repeat(200), 't1'));
    expect(checked).toEqual({ ok: false, reason: expect.stringMatching(/^message of \d+ bytes is over maxMessageBytes \(100\)$/) });
  });

  it('refuses an envelope whose tag is not the one the storage recorded it under', () => {
    const { admission } = setup();
    expect(admission.admit('q', envelope('hi', 't1'), 'other')).toEqual({
      ok: false,
      reason: 'properties.delivery_tag is not the tag the message was recorded under (other)',
    });
  });

  it('refuses a message redelivered past the limit only on a queue with dead-letter routing', () => {
    const { admission } = setup({ deadLetterQueues: ['dlq-on'], maxRedeliveries: 1 });
    const twice = markRedelivered(markRedelivered(envelope('hi', 't1')));
    expect(admission.admit('dlq-on', twice)).toEqual({ ok: false, reason: 'redelivered 2 times, over the limit of 1' });
    expect(admission.admit('plain', twice).ok).toBe(true);
  });
});

describe('deadLetterPolicy', () => {
  it('is on for listed queues, every queue with "*", and x-dead-letter queues, with x-delivery-limit over maxRedeliveries', () => {
    const { admission, brokerState } = setup({ deadLetterQueues: ['listed'], maxRedeliveries: 5 });
    rememberQueueArguments(brokerState, 'argq', { 'x-dead-letter': true, 'x-delivery-limit': 2 });
    expect([admission.deadLetterPolicy('listed'), admission.deadLetterPolicy('argq'), admission.deadLetterPolicy('other')]).toEqual([
      { maxRedeliveries: 5 },
      { maxRedeliveries: 2 },
      undefined,
    ]);
    expect(setup({ deadLetterQueues: '*' }).admission.deadLetterPolicy('any')).toEqual({ maxRedeliveries: undefined });
  });
});

describe('deadLetterTaken', () => {
  it('moves a recorded message with the store in one step when the store can, and reports it', async () => {
    const moved: string[] = [];
    const { admission, store, reported } = setup({}, {
      deadLetters: { moveToDeadLetters: async (tag, queue) => (moved.push(`${tag}@${queue}`), { queue: queue ?? '' }) },
    });
    store.unacked.set('t1', ['{}', '', 'q']);
    await admission.deadLetterTaken('q', envelope('hi', 't1'), 'bad', true);
    expect(moved).toEqual(['t1@q']);
    expect(store.dead).toEqual([]);
    expect(reported).toEqual([{ queue: 'q', reason: 'bad' }]);
  });

  it('otherwise stores the payload as a dead letter and deletes the record', async () => {
    const { admission, store, reported } = setup();
    const payload = envelope('hi', 't1');
    store.unacked.set('t1', [payload, '', 'q']);
    await admission.deadLetterTaken('q', payload, 'bad', true);
    expect(store.dead).toEqual([{ queue: 'q', payload, reason: 'bad' }]);
    expect(store.unacked.size).toBe(0);
    expect(reported).toEqual([{ queue: 'q', reason: 'bad' }]);
  });

  it('leaves records alone for a message taken without one', async () => {
    const { admission, store } = setup();
    store.unacked.set('t1', ['kept', '', 'q']);
    await admission.deadLetterTaken('q', envelope('hi', 't1'), 'bad', false);
    expect([store.dead.length, store.unacked.has('t1')]).toEqual([1, true]);
  });
});

describe('holdUntilEta', () => {
  const eta = (secondsAhead: number) => new Date(Date.now() + secondsAhead * 1000).toISOString();
  const parsed = (admission: ChannelAdmission, headers: Record<string, string>) => {
    const checked = admission.admit('q', envelope('hi', 't1', headers));
    if (!checked.ok) throw new Error(checked.reason);
    return checked.envelope;
  };

  it('holds the record until the ETA with holdUntil when the store has it', async () => {
    const held: [string, number][] = [];
    const { admission } = setup({}, {
      visibility: { extend: async () => undefined, holdUntil: async (tag, at) => void held.push([tag, at]), restoreExpired: async () => [] },
    });
    admission.holdUntilEta(parsed(admission, { eta: eta(60) }));
    expect(held).toHaveLength(1);
    expect(held[0]?.[0]).toBe('t1');
    expect(held[0]?.[1]).toBeGreaterThan(Date.now() / 1000 + 59);
  });

  it('extends by the time to the ETA plus the visibility timeout without holdUntil, and not at all for a past ETA', async () => {
    const extended: [string, number][] = [];
    const { admission } = setup({ visibilityTimeout: 30 }, {
      visibility: { extend: async (tag, seconds) => void extended.push([tag, seconds]), restoreExpired: async () => [] },
    });
    admission.holdUntilEta(parsed(admission, { eta: eta(-5) }));
    admission.holdUntilEta(parsed(admission, { eta: eta(60) }));
    expect(extended).toHaveLength(1);
    expect(extended[0]?.[1]).toBeGreaterThan(89);
    expect(extended[0]?.[1]).toBeLessThanOrEqual(90);
  });
});

describe('settleDeadLetter', () => {
  it('refuses, naming the storage, when the store cannot move records', async () => {
    const { admission } = setup();
    await expect(admission.settleDeadLetter('t1', 'q', 'bad')).rejects.toThrow(
      new ChannelError('The TestStorage storage cannot dead-letter delivered messages'),
    );
  });

  it('reports only a record that was there to move', async () => {
    const { admission, reported } = setup({}, {
      deadLetters: { moveToDeadLetters: async (tag) => (tag === 't1' ? { queue: 'q' } : undefined) },
    });
    await admission.settleDeadLetter('t1', undefined, 'bad');
    await admission.settleDeadLetter('gone', undefined, 'bad');
    expect(reported).toEqual([{ queue: 'q', reason: 'bad' }]);
  });
});
