import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MasterTracking, TRACKING_RETRY_MS } from '../src/master-tracking.js';

/** A Redis reply error as ioredis makes them (errors.ts tells them by name). */
function replyError(message: string): Error {
  const error = new Error(message);
  error.name = 'ReplyError';
  return error;
}

/** A connection that answers CLIENT ID / SUBSCRIBE / CLIENT TRACKING from a script of replies. */
class FakeConnection extends EventEmitter {
  status = 'ready';
  readonly calls: string[][] = [];
  /** Errors for the next CLIENT TRACKING ON calls, in order (then they succeed). */
  readonly trackingErrors: Error[] = [];

  client(sub: string): Promise<number> {
    this.calls.push(['CLIENT', sub]);
    return Promise.resolve(7);
  }

  subscribe(channel: string): Promise<number> {
    this.calls.push(['SUBSCRIBE', channel]);
    return Promise.resolve(1);
  }

  call(...args: string[]): Promise<string> {
    this.calls.push(args);
    if (args[2] === 'ON') {
      const error = this.trackingErrors.shift();
      if (error) return Promise.reject(error);
    }
    return Promise.resolve('OK');
  }

  disconnect(): void {
    this.status = 'end';
  }
}

async function armedTracking(trackingErrors: Error[]) {
  const tracked = new FakeConnection();
  tracked.trackingErrors.push(...trackingErrors);
  const subscriber = new FakeConnection();
  const armed = vi.fn();
  const tracking = new MasterTracking({ host: '127.0.0.1', port: 7000 }, tracked as unknown as Redis, subscriber as unknown as Redis, {
    onInvalidation: () => undefined,
    onArmed: armed,
    reportError: () => undefined,
  });
  tracking.want(new Map([['q', 'p:{q}']]));
  subscriber.emit('ready');
  await vi.advanceTimersByTimeAsync(0);
  return { tracking, tracked, subscriber, armed };
}

describe('MasterTracking (CLIENT TRACKING on one cluster master)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('arms the wanted prefixes, redirected to the subscriber', async () => {
    const { tracking, tracked, armed } = await armedTracking([]);
    expect(tracking.state).toBe('on');
    expect(tracking.covers('q')).toBe(true);
    expect(tracked.calls.at(-1)).toEqual(['CLIENT', 'TRACKING', 'ON', 'REDIRECT', '7', 'BCAST', 'PREFIX', 'p:{q}']);
    expect(armed).toHaveBeenCalled();
  });

  it('asks a busy master again a second later instead of giving up on it', async () => {
    const { tracking } = await armedTracking([replyError('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.')]);
    expect(tracking.state).toBe('unknown');
    await vi.advanceTimersByTimeAsync(TRACKING_RETRY_MS - 10);
    expect(tracking.state).toBe('unknown');
    await vi.advanceTimersByTimeAsync(20);
    expect(tracking.state).toBe('on');
    expect(tracking.covers('q')).toBe(true);
  });

  it('takes any other refusal as the verdict: unsupported, the subscriber closed, never asked again', async () => {
    const { tracking, tracked, subscriber } = await armedTracking([replyError("NOPERM this user has no permissions to run the 'client|tracking' command")]);
    expect(tracking.state).toBe('unsupported');
    expect(subscriber.status).toBe('end');
    const asked = tracked.calls.length;
    await vi.advanceTimersByTimeAsync(5 * TRACKING_RETRY_MS);
    expect(tracked.calls.length).toBe(asked);
    expect(tracking.state).toBe('unsupported');
  });
});
