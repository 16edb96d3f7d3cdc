import { Hub } from '@kelp/hub';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Connection } from '../src/connection.js';
import {
  AbortedError,
  ChannelError,
  ConfigurationError,
  OperationalError,
  OperationTimeoutError,
} from '../src/errors.js';
import { registerTransport } from '../src/transport-registry.js';
import { FakeSocketError, fakeDefinition, FakeBroker, fakeSetup, type FakeTransport } from './helpers/fake-transport.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('Connection options', () => {
  it('rejects an unknown option naming it', () => {
    const { registry } = fakeSetup();
    let caught: unknown;
    try {
      new Connection('fake://h', { registry, transport_options: {} } as never);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigurationError);
    expect((caught as Error).message).toMatch(/transport_options/);
  });

  it('rejects an unknown failover strategy listing the accepted values', () => {
    const { registry } = fakeSetup();
    expect(() => new Connection('fake://h', { registry, failoverStrategy: 'random' as never })).toThrow(
      /failoverStrategy.*round-robin.*shuffle/s,
    );
  });

  it('rejects a tls option that is neither a boolean nor TLS settings', () => {
    const { registry } = fakeSetup();
    expect(() => new Connection('fake://h', { registry, tls: 'yes' as never })).toThrow(
      /option `tls` is invalid: expected true, false or \{ ca, cert, key/,
    );
  });

  it('defaults to memory:// with the default broker', () => {
    const conn = new Connection();
    expect(conn.redactedUrl).toBe('memory://');
    expect(String(conn)).toBe('<Connection: memory:// (idle)>');
  });

  it('reports an unregistered scheme with the registered ones when the transport is needed', () => {
    const { registry } = fakeSetup();
    const conn = new Connection('redis://localhost/0', { registry });
    expect(() => conn.transport).toThrow(/No transport is registered for "redis:\/\/".*Registered schemes: fake/);
  });

  it('finds transports registered on the default registry with registerTransport', async () => {
    const broker = new FakeBroker();
    const unregister = registerTransport(fakeDefinition(broker, ['fake-global']));
    try {
      const conn = new Connection('fake-global://gh:1/');
      await conn.connect();
      expect(broker.attempts).toEqual(['gh:1']);
      await conn.close();
    } finally {
      unregister();
    }
  });
});

describe('Connection.connect and ensureConnection', () => {
  it('connects lazily on first channel() and creates the transport once', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h1:1/', { registry });
    expect(conn.state).toBe('idle');
    const channel = await conn.channel();
    expect(channel.state).toBe('open');
    expect(conn.state).toBe('connected');
    expect(broker.attempts).toEqual(['h1:1']);
    expect(broker.transports).toHaveLength(1);
  });

  it('fails the first use after one attempt per URL when no retry policy is configured', async () => {
    const { broker, registry } = fakeSetup();
    broker.failConnects = 1;
    const conn = new Connection('fake://h:1/', { registry });
    await expect(conn.channel()).rejects.toBeInstanceOf(OperationalError);
    expect(broker.attempts).toEqual(['h:1']);
  });

  it('retries the first use with the max_retries/interval_* transport options, as default_channel does', async () => {
    const { broker, registry } = fakeSetup();
    broker.failConnects = 2;
    const conn = new Connection('fake://h:1/?max_retries=2&interval_start=0', { registry, transportOptions: { intervalStep: 0 } });
    const channel = await conn.channel();
    expect(channel.state).toBe('open');
    expect(broker.attempts).toEqual(['h:1', 'h:1', 'h:1']);
  });

  it('tries each alternate once on connect() and throws OperationalError with the redacted URLs', async () => {
    const { broker, registry } = fakeSetup();
    broker.downHosts.add('h1').add('h2');
    const conn = new Connection('fake://:pw1@h1:1/;fake://:pw2@h2:2/', { registry });
    const error = (await conn.connect().catch((e: unknown) => e)) as OperationalError;
    expect(error).toBeInstanceOf(OperationalError);
    expect(broker.attempts).toEqual(['h1:1', 'h2:2']);
    expect(error.message).toContain('fake://:**@h1:1/;fake://:**@h2:2/');
    expect(error.message).toContain('failed after 2 attempts');
    expect(error.cause).toBeInstanceOf(FakeSocketError);
    expect(conn.state).toBe('idle');
  });

  it('with maxRetries 3 makes 4 attempts and 3 errback calls (docs/kombu-compatibility.md#retry)', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    broker.failConnects = 10;
    const conn = new Connection('fake://h1:1/', { registry });
    const intervals: number[] = [];
    const result = conn
      .ensureConnection({ maxRetries: 3, intervalStart: 0.2, intervalStep: 0.2, onError: (_e, interval) => intervals.push(interval) })
      .catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await result).toBeInstanceOf(OperationalError);
    expect(broker.attempts).toHaveLength(4);
    expect(intervals).toEqual([0.2, 0.4, 0.6]);
  });

  it('succeeds after the broker refuses the first connects', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    broker.failConnects = 2;
    const conn = new Connection('fake://h1:1/', { registry });
    const result = conn.ensureConnection({ intervalStart: 1 });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe(conn);
    expect(broker.attempts).toHaveLength(3);
    expect(conn.state).toBe('connected');
  });

  it('sleeps only after a full cycle through the alternates, in round-robin order', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    broker.failConnects = 5;
    const conn = new Connection(['fake://a:1/', 'fake://b:2/', 'fake://c:3/'], { registry });
    const intervals: number[] = [];
    const result = conn.ensureConnection({ intervalStart: 2, onError: (_e, interval) => intervals.push(interval) });
    await vi.runAllTimersAsync();
    await result;
    expect(broker.attempts).toEqual(['a:1', 'b:2', 'c:3', 'a:1', 'b:2', 'c:3']);
    expect(intervals).toEqual([0, 0, 2, 0, 0]);
    expect(conn.currentUrl).toBe('fake://c:3/');
  });

  it('picks alternates at random with the shuffle strategy', async () => {
    const { broker, registry } = fakeSetup();
    broker.failConnects = 3;
    const spy = vi.spyOn(Math, 'random').mockReturnValueOnce(0.9).mockReturnValueOnce(0.9).mockReturnValueOnce(0.1);
    try {
      const conn = new Connection('fake://a:1/;fake://b:2/;fake://c:3/', { registry, failoverStrategy: 'shuffle' });
      await conn.ensureConnection({ intervalStart: 0, intervalStep: 0, intervalMax: 0 });
      expect(broker.attempts).toEqual(['a:1', 'c:3', 'c:3', 'a:1']);
    } finally {
      spy.mockRestore();
    }
  });

  it('treats a connect that outlives connectTimeout as a failed attempt', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    broker.hangConnects = true;
    const conn = new Connection('fake://h:1/', { registry, connectTimeout: 1.5 });
    const result = conn.connect().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1500);
    const error = (await result) as Error;
    expect(error).toBeInstanceOf(OperationalError);
    expect(error.message).toMatch(/timed out after 1.5s \(connectTimeout\)/);
  });

  it('gives up a hanging connect when the signal aborts, even without connectTimeout', async () => {
    const { broker, registry } = fakeSetup();
    broker.hangConnects = true;
    const controller = new AbortController();
    const conn = new Connection('fake://h:1/', { registry });
    const result = conn.connect({ signal: controller.signal }).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    expect(await result).toBeInstanceOf(AbortedError);
    expect(broker.attempts).toEqual(['h:1']);
    expect(conn.state).toBe('idle');
  });

  it('stops retrying when the signal aborts', async () => {
    vi.useFakeTimers();
    const { broker, registry } = fakeSetup();
    broker.failConnects = 100;
    const controller = new AbortController();
    const conn = new Connection('fake://h:1/', { registry });
    const result = conn.ensureConnection({ signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2000);
    controller.abort();
    expect(await result).toBeInstanceOf(AbortedError);
    expect(broker.attempts).toHaveLength(2);
  });

  it('never shows the password in errors, errback errors or toString', async () => {
    const { broker, registry } = fakeSetup();
    broker.failConnects = 1;
    broker.failureDetail = ' (AUTH s3cr3t-pw rejected)';
    const conn = new Connection('fake://user:s3cr3t-pw@h:1/', { registry });
    const seen: string[] = [];
    await conn.ensureConnection({ intervalStart: 0, onError: (e) => seen.push(e.message) });
    broker.failConnects = 1;
    await conn.close();
    const error = (await conn.connect().catch((e: unknown) => e)) as Error;
    expect(seen).toEqual(['connection refused by h:1 (AUTH ** rejected)']);
    expect(error.message).not.toContain('s3cr3t-pw');
    expect(error.message).toContain('fake://user:**@h:1/');
    expect(String(conn)).toBe('<Connection: fake://user:**@h:1/ (idle)>');
    expect(inspect(conn, { depth: 5 })).not.toContain('s3cr3t-pw');
    expect(JSON.stringify(conn)).not.toContain('s3cr3t-pw');
  });
});

describe('Connection.ensure', () => {
  it('reconnects and retries on a connection error, reviving with a new default channel', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const channelIds: number[] = [];
    const revived: number[] = [];
    let reconnectedEvents = 0;
    conn.on('reconnected', () => reconnectedEvents++);
    const result = await conn.ensure(
      async (channel) => {
        channelIds.push(channel.channelId);
        if (channelIds.length === 1) throw new FakeSocketError('socket closed');
        return 'published';
      },
      { onRevive: (channel) => revived.push(channel.channelId) },
    );
    expect(result).toBe('published');
    expect(channelIds).toHaveLength(2);
    expect(channelIds[1]).not.toBe(channelIds[0]);
    expect(revived).toEqual([channelIds[1]]);
    expect(broker.transports).toHaveLength(2);
    expect(broker.transports[0]?.state).toBe('closed');
    expect(reconnectedEvents).toBe(1);
  });

  it('throws a connection error that persists after a successful reconnect', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    let calls = 0;
    const error = await conn
      .ensure(async () => {
        calls++;
        throw new FakeSocketError('still broken');
      })
      .catch((e: unknown) => e);
    expect(calls).toBe(2);
    expect(error).toBeInstanceOf(OperationalError);
    expect((error as Error).cause).toBeInstanceOf(FakeSocketError);
    expect(broker.attempts).toHaveLength(2);
  });

  it('throws at once when maxRetries is 0', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    let calls = 0;
    await expect(
      conn.ensure(
        async () => {
          calls++;
          throw new FakeSocketError('down');
        },
        { maxRetries: 0 },
      ),
    ).rejects.toBeInstanceOf(OperationalError);
    expect(calls).toBe(1);
  });

  it('retries a channel error once on a new channel without reconnecting', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const errbacks: string[] = [];
    const channelIds: number[] = [];
    const error = await conn
      .ensure(
        async (channel) => {
          channelIds.push(channel.channelId);
          throw new ChannelError('WRONGTYPE');
        },
        { onError: (e) => errbacks.push(e.message) },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelError);
    expect(channelIds).toHaveLength(2);
    expect(new Set(channelIds).size).toBe(2);
    expect(errbacks).toEqual(['WRONGTYPE']);
    expect(broker.attempts).toHaveLength(1);
  });

  it('throws other errors at once', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const bug = new TypeError('bug');
    let calls = 0;
    await expect(
      conn.ensure(async () => {
        calls++;
        throw bug;
      }),
    ).rejects.toBe(bug);
    expect(calls).toBe(1);
  });
});

describe('Connection channels, hub and close', () => {
  it('returns the same default channel until it is closed', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const first = await conn.defaultChannel();
    expect(await conn.defaultChannel()).toBe(first);
    await first.close();
    const second = await conn.defaultChannel();
    expect(second.channelId).not.toBe(first.channelId);
  });

  it('closes its channels and the transport, and is idempotent', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const a = await conn.channel();
    const b = await conn.channel();
    await conn.close();
    await conn.close();
    expect([a.state, b.state]).toEqual(['closed', 'closed']);
    expect(broker.transports[0]?.state).toBe('closed');
    expect(conn.state).toBe('closed');
  });

  it('closes through Symbol.asyncDispose', async () => {
    const { broker, registry } = fakeSetup();
    {
      await using conn = new Connection('fake://h:1/', { registry });
      await conn.connect();
    }
    expect(broker.transports[0]?.state).toBe('closed');
  });

  it('registers each transport once with the hub it was given, and again after a reconnect', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const hub = new Hub();
    conn.registerWithEventLoop(hub);
    await conn.connect();
    conn.registerWithEventLoop(hub);
    expect(conn.hub).toBe(hub);
    expect(broker.registrations).toEqual([hub]);
    let calls = 0;
    await conn.ensure(async () => {
      if (++calls === 1) throw new FakeSocketError('reset');
    });
    expect(broker.registrations).toEqual([hub, hub]);
    expect(broker.transports[1]?.hub).toBe(hub);
  });

  it('forwards connectionLost and error events without the password', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://:hunter2@h:1/', { registry });
    await conn.connect();
    const lost: string[] = [];
    const errors: string[] = [];
    conn.on('connectionLost', (e) => lost.push(e.message));
    conn.on('error', (e) => errors.push(e.message));
    const transport = broker.transports[0] as FakeTransport;
    transport.emit('connectionLost', new Error('lost link to :hunter2@h'));
    transport.emit('error', new Error('restore failed'));
    expect(lost).toEqual(['lost link to :**@h']);
    expect(errors).toEqual(['restore failed']);
  });
});

describe('Connection.drainEvents', () => {
  it('resolves once the transport delivers a message', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const channel = await conn.channel();
    const received: string[] = [];
    await channel.basicConsume('q', { onDelivery: (d) => received.push(d.deliveryTag) });
    const drained = conn.drainEvents({ timeout: 5 });
    await new Promise((resolve) => setImmediate(resolve));
    (broker.transports[0] as FakeTransport).deliverSoon('tag-42');
    await drained;
    expect(received).toEqual(['tag-42']);
    expect(broker.registrations).toEqual([conn.hub]);
  });

  it('throws OperationTimeoutError when nothing arrives within the timeout', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const started = Date.now();
    const error = await conn.drainEvents({ timeout: 0.05 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationTimeoutError);
    expect((error as Error).message).toBe('No message arrived within 0.05s (drainEvents timeout)');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('rejects with OperationalError when the connection is lost while draining', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.connect();
    const drained = conn.drainEvents({ timeout: 5 }).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    const transport = broker.transports[0] as FakeTransport;
    transport.hub?.callSoon(() => transport.emit('connectionLost', new Error('ECONNRESET')));
    const error = (await drained) as Error;
    expect(error).toBeInstanceOf(OperationalError);
    expect(error.message).toMatch(/lost while draining events: ECONNRESET/);
  });

  it('waits for the next delivery event when the hub is already running', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    await conn.connect();
    const controller = new AbortController();
    const loop = conn.hub.runForever(controller.signal);
    const drained = conn.drainEvents({ timeout: 5 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    (broker.transports[0] as FakeTransport).deliverSoon('t-running');
    await expect(drained).resolves.toBeUndefined();
    controller.abort();
    await loop;
    const timeout = await conn.drainEvents({ timeout: 0.01 }).catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(OperationTimeoutError);
  });
});
