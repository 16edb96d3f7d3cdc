import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LinkWatch, type PollerLink } from '../src/link-watch.js';

/** The part of an ioredis client LinkWatch touches. */
function fakeClient(ping: () => Promise<string>) {
  const client = { status: 'ready', disconnects: [] as boolean[], ping, disconnect: (reconnect: boolean) => client.disconnects.push(reconnect) };
  return client;
}

function setup(ping: () => Promise<string>) {
  const poll = fakeClient(ping);
  const subscriber = fakeClient(() => Promise.resolve('PONG'));
  const events: string[] = [];
  const watch = new LinkWatch(
    { poll: poll as unknown as Redis, subscriber: subscriber as unknown as Redis },
    {
      onLinkLost: (link: PollerLink, error: Error) => events.push(`lost ${link}: ${error.message}`),
      onLinkRestored: (link: PollerLink) => events.push(`back ${link}`),
      onError: () => undefined,
      onDead: (link: PollerLink) => events.push(`dead ${link}`),
    },
    { defaultLimitMs: 6000, healthTimeoutMs: 2000 },
  );
  return { poll, subscriber, events, watch };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('LinkWatch', () => {
  it('replaces a connection whose PING gets no PONG within the health deadline and reports it lost once', async () => {
    const { poll, subscriber, events, watch } = setup(() => new Promise<string>(() => undefined));
    const checking = watch.checkHealth();
    await vi.advanceTimersByTimeAsync(2000);
    await checking;
    expect(poll.disconnects).toEqual([true]);
    expect(subscriber.disconnects).toEqual([]);
    expect(events).toEqual(['dead poll', 'lost poll: redis poll connection did not answer within 2000 ms; reconnecting it']);
  });

  it("treats ioredis's \"Command timed out\" rejection as a dead link, not only its own deadline", async () => {
    const { poll, events, watch } = setup(() => Promise.reject(new Error('Command timed out')));
    await watch.checkHealth();
    expect(poll.disconnects).toEqual([true]);
    expect(events).toEqual(['dead poll', 'lost poll: Command timed out']);
  });

  it('reports a lost link back exactly once, after its first good round trip', async () => {
    const { events, watch } = setup(() => Promise.reject(new Error('Command timed out')));
    await watch.checkHealth();
    watch.restored('poll');
    watch.restored('poll');
    watch.restored('subscriber');
    expect(events.filter((e) => e.startsWith('back'))).toEqual(['back poll']);
  });

  it('replaces a connection that health checks keep seeing stuck connecting past the deadline', async () => {
    const { poll, events, watch } = setup(() => Promise.resolve('PONG'));
    poll.status = 'connect';
    await watch.checkHealth();
    await vi.advanceTimersByTimeAsync(1000);
    await watch.checkHealth();
    expect(poll.disconnects).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    await watch.checkHealth();
    expect(poll.disconnects).toEqual([true]);
    expect(events[0]).toBe('dead poll');
  });
});
