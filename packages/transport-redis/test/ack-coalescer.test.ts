/**
 * AckCoalescer's choice of connection: a tick's acks ride the held lane while it can carry them,
 * fall back to the command connection when it cannot, and every hold is released exactly once.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { AckCoalescer, type AckLane } from '../src/ack-coalescer.js';
import { FailOnClose } from '../src/connections.js';

/** A stand-in client that records the tags of every ack script call made on it. */
function fakeClient(name: string, calls: string[]): Redis {
  const client = {
    kelpAck: (...args: (string | number)[]) => {
      calls.push(`${name}:${args.slice(2).join(',')}`);
      return Promise.resolve(args.length - 2);
    },
  };
  return client as unknown as Redis;
}

function lane(carrier: Redis, usable: () => boolean, log: string[]): AckLane {
  return {
    hold: () => {
      log.push('hold');
      return { send: (write) => (usable() ? write(carrier) : undefined), release: () => void log.push('release') };
    },
  };
}

describe('AckCoalescer', () => {
  it('sends a tick of acks on the held lane as one call, then releases the hold once', async () => {
    const calls: string[] = [];
    const log: string[] = [];
    const acks = new AckCoalescer(fakeClient('command', calls), 'unacked', 'unacked_index');
    acks.shareWritesWith(lane(fakeClient('poll', calls), () => true, log));
    await Promise.all([acks.ack(['a']), acks.ack(['b']), acks.ack(['c'])]);
    await acks.ack(['d']);
    expect(calls).toEqual(['poll:a,b,c', 'poll:d']);
    expect(log).toEqual(['hold', 'release', 'hold', 'release']);
  });

  it('falls back to the command connection when the lane cannot carry acks at send time', async () => {
    const calls: string[] = [];
    const log: string[] = [];
    const acks = new AckCoalescer(fakeClient('command', calls), 'unacked', 'unacked_index');
    acks.shareWritesWith(lane(fakeClient('poll', calls), () => false, log));
    await acks.ack(['a']);
    expect(calls).toEqual(['command:a']);
    expect(log).toEqual(['hold', 'release']);
  });

  it('uses the command connection when no lane is shared, or after it was withdrawn', async () => {
    const calls: string[] = [];
    const acks = new AckCoalescer(fakeClient('command', calls), 'unacked', 'unacked_index');
    await acks.ack(['a']);
    acks.shareWritesWith(lane(fakeClient('poll', calls), () => true, []));
    await acks.ack(['b']);
    acks.shareWritesWith(undefined);
    await acks.ack(['c']);
    expect(calls).toEqual(['command:a', 'poll:b', 'command:c']);
  });
});

describe('FailOnClose', () => {
  it('rejects every command still unanswered when the connection closes, with one listener for all', async () => {
    const client = new EventEmitter();
    const unanswered = new FailOnClose(client as unknown as Redis, () => new Error('lost'));
    const answers: ((value: number) => void)[] = [];
    const pending = Array.from({ length: 50 }, () => unanswered.watch(new Promise<number>((resolve) => answers.push(resolve))));
    expect(client.listenerCount('close')).toBe(1);
    client.emit('close');
    for (const promise of pending) await expect(promise).rejects.toThrow('lost');
    expect(unanswered.size).toBe(0);
  });

  it('resolves with the reply when it comes first, and forgets the command', async () => {
    const client = new EventEmitter();
    const unanswered = new FailOnClose(client as unknown as Redis, () => new Error('lost'));
    await expect(unanswered.watch(Promise.resolve(3))).resolves.toBe(3);
    await Promise.resolve();
    expect(unanswered.size).toBe(0);
    client.emit('close');
  });
});
