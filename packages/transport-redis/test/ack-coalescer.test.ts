/**
 * AckCoalescer's choice of connection: a tick's acks ride the held lane while it can carry them,
 * fall back to the command connection when it cannot, and every hold is released exactly once.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { AckCoalescer, type AckLane } from '../src/ack-coalescer.js';
import { rejectOnClose } from '../src/connections.js';

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

describe('rejectOnClose', () => {
  it('rejects a command still unanswered when its connection closes, and lets go of the listener', async () => {
    const client = new EventEmitter();
    let answer!: (value: number) => void;
    const pending = rejectOnClose(client as unknown as Redis, new Promise<number>((resolve) => (answer = resolve)), () => new Error('lost'));
    client.emit('close');
    await expect(pending).rejects.toThrow('lost');
    answer(1);
    await Promise.resolve();
    expect(client.listenerCount('close')).toBe(0);
  });

  it('resolves with the reply when it comes first, and lets go of the listener', async () => {
    const client = new EventEmitter();
    await expect(rejectOnClose(client as unknown as Redis, Promise.resolve(3), () => new Error('lost'))).resolves.toBe(3);
    await Promise.resolve();
    expect(client.listenerCount('close')).toBe(0);
  });
});
