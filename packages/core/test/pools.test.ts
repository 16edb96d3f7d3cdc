import { afterEach, describe, expect, it, vi } from 'vitest';
import { Connection } from '../src/connection.js';
import { AbortedError, ConfigurationError, KelpError, LimitExceeded } from '../src/errors.js';
import { ConnectionPool, PoolGroup, ProducerPool, ResourcePool } from '../src/pools.js';
import { fakeSetup } from './helpers/fake-transport.js';

afterEach(() => {
  vi.useRealTimers();
});

const counterPool = (limit: number) => {
  let created = 0;
  const destroyed: number[] = [];
  const pool = new ResourcePool(() => ++created, { limit, destroy: (r) => void destroyed.push(r) });
  return { pool, destroyed, created: () => created };
};

describe('ResourcePool', () => {
  it('creates resources lazily, only when acquired', async () => {
    const { pool, created } = counterPool(3);
    expect(created()).toBe(0);
    expect(await pool.acquire()).toBe(1);
    expect(created()).toBe(1);
  });

  it('reuses a released resource instead of creating a new one', async () => {
    const { pool, created } = counterPool(3);
    const first = await pool.acquire();
    pool.release(first);
    expect(await pool.acquire()).toBe(first);
    expect(created()).toBe(1);
  });

  it('throws LimitExceeded at once when exhausted and block is false', async () => {
    const { pool } = counterPool(2);
    await pool.acquire();
    await pool.acquire();
    await expect(pool.acquire({ block: false })).rejects.toThrow(LimitExceeded);
    await expect(pool.acquire({ block: false })).rejects.toThrow(/exhausted \(limit 2\)/);
  });

  it('throws LimitExceeded when nothing is released within the timeout', async () => {
    vi.useFakeTimers();
    const { pool } = counterPool(1);
    await pool.acquire();
    const waiting = pool.acquire({ timeout: 2 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1999);
    expect(pool.inUse).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const error = (await waiting) as Error;
    expect(error).toBeInstanceOf(LimitExceeded);
    expect(error.message).toBe('No resource became free within 2s (pool limit 1)');
  });

  it('hands a released resource to the first waiter', async () => {
    const { pool } = counterPool(1);
    const held = await pool.acquire();
    const order: string[] = [];
    const a = pool.acquire().then((r) => order.push(`a:${r}`));
    const b = pool.acquire({ timeout: 5 }).then((r) => order.push(`b:${r}`));
    pool.release(held);
    await a;
    expect(order).toEqual(['a:1']);
    pool.release(1);
    await b;
    expect(order).toEqual(['a:1', 'b:1']);
  });

  it('rejects a waiter with AbortedError when its signal aborts', async () => {
    const { pool } = counterPool(1);
    await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire({ signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
  });

  it('destroys free resources on close and rejects later acquires', async () => {
    const { pool, destroyed } = counterPool(3);
    const a = await pool.acquire();
    const b = await pool.acquire();
    pool.release(a);
    await pool.close();
    expect(destroyed).toEqual([1]);
    pool.release(b);
    await Promise.resolve();
    expect(destroyed).toEqual([1, 2]);
    await expect(pool.acquire()).rejects.toThrow(KelpError);
  });

  it('rejects a limit of 0 naming the option', () => {
    expect(() => new ResourcePool(() => 1, { limit: 0 })).toThrow(ConfigurationError);
  });

  it('runs a function with a resource and releases it even when the function throws', async () => {
    const { pool } = counterPool(1);
    await expect(pool.use(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(pool.inUse).toBe(0);
    expect(pool.available).toBe(1);
  });
});

describe('ConnectionPool', () => {
  it('builds unconnected connections from a URL with a default limit of 10', async () => {
    const { registry, broker } = fakeSetup();
    const pool = new ConnectionPool('fake://:pw@h:1/', { connectionOptions: { registry } });
    const conn = await pool.acquire();
    expect(pool.limit).toBe(10);
    expect(conn).toBeInstanceOf(Connection);
    expect(conn.state).toBe('idle');
    expect(conn.redactedUrl).toBe('fake://:**@h:1/');
    expect(broker.attempts).toEqual([]);
  });

  it('clones a given connection and closes the clones on close()', async () => {
    const { registry, broker } = fakeSetup();
    const original = new Connection('fake://h:1/', { registry });
    const pool = new ConnectionPool(original, { limit: 2 });
    const conn = await pool.acquire();
    expect(conn).not.toBe(original);
    await conn.connect();
    pool.release(conn);
    await pool.close();
    expect(conn.state).toBe('closed');
    expect(broker.transports[0]?.state).toBe('closed');
  });
});

describe('ProducerPool', () => {
  it('hands out one producer per pooled connection and returns the connection on release', async () => {
    const { registry } = fakeSetup();
    const connections = new ConnectionPool('fake://h:1/', { limit: 1, connectionOptions: { registry } });
    const producers = new ProducerPool(connections);
    const first = await producers.acquire();
    expect(connections.inUse).toBe(1);
    await expect(producers.acquire({ block: false })).rejects.toBeInstanceOf(LimitExceeded);
    producers.release(first);
    expect(connections.inUse).toBe(0);
    expect(await producers.acquire()).toBe(first);
  });
});

describe('PoolGroup', () => {
  it('keys pools by connection and applies setLimit to them', async () => {
    const { registry } = fakeSetup();
    const group = new PoolGroup({ limit: 4 });
    const a = new Connection('fake://a:1/', { registry });
    const b = new Connection('fake://b:1/', { registry });
    expect(group.connections(a)).toBe(group.connections(a));
    expect(group.connections(a)).not.toBe(group.connections(b));
    expect(group.producers(a).connections).toBe(group.connections(a));
    group.setLimit(7);
    expect(group.connections(a).limit).toBe(7);
    await group.close();
    expect(group.connections(a).closed).toBe(false);
  });
});
