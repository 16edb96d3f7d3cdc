/**
 * Connection and producer pools (`kombu.pools`, docs/kombu-compatibility.md#helpers): a bounded set
 * of lazily created resources. `acquire` hands out a free one, creates one while under the limit,
 * and otherwise waits (or, with `block: false` or after `timeout` seconds, throws {@link
 * LimitExceeded}).
 *
 * There is no hidden module state: {@link pools} is an explicit default {@link PoolGroup} that
 * users can see, close and replace with their own.
 */
import { z } from 'zod';
import { Connection } from './connection.js';
import { CONNECTION_OPTION_NAMES, type ConnectionOptions } from './connection-options.js';
import { AbortedError, KelpError, LimitExceeded, throwIfAborted } from './errors.js';
import { OptionNames, parseOptions } from './option-parsing.js';
import { PRODUCER_OPTION_NAMES, type Producer, type ProducerOptions } from './producer.js';

/** Kombu's default pool limit (`kombu.pools.set_limit`). */
export const DEFAULT_POOL_LIMIT = 10;

export interface AcquireOptions {
  /** Wait for a free resource when the pool is exhausted (default true); false throws at once. */
  block?: boolean;
  /** Seconds to wait before throwing LimitExceeded (default: wait until one is released). */
  timeout?: number;
  signal?: AbortSignal;
}

export interface ResourcePoolOptions<T> {
  /** Most resources alive at once (default 10); Infinity for no limit. */
  limit?: number;
  /** Called for free resources on close() and for resources released after it. */
  destroy?: (resource: T) => Promise<void> | void;
  /** Names the resource in error messages. */
  name?: string;
}

const limitSchema = z.number().positive({ message: 'expected a number >= 1 (or Infinity)' }).refine(
  (n) => n === Infinity || Number.isInteger(n),
  { message: 'expected an integer >= 1 (or Infinity)' },
);
const acquireSchema = z.object({
  block: z.boolean().optional(),
  timeout: z.number().min(0, { message: 'expected a number of seconds >= 0' }).optional(),
  signal: z.instanceof(AbortSignal).optional(),
});
const ACQUIRE_OPTION_NAMES = OptionNames.of<AcquireOptions>({ block: true, timeout: true, signal: true });
const RESOURCE_POOL_OPTION_NAMES = OptionNames.of<ResourcePoolOptions<unknown>>({ limit: true, destroy: true, name: true });

interface Waiter<T> {
  resolve: (resource: T) => void;
  reject: (error: unknown) => void;
}

export class ResourcePool<T> {
  readonly #create: () => T | Promise<T>;
  readonly #destroy: ((resource: T) => Promise<void> | void) | undefined;
  readonly #name: string;
  #limit: number;
  readonly #free: T[] = [];
  readonly #inUse = new Set<T>();
  #creating = 0;
  readonly #waiters: Waiter<T>[] = [];
  #closed = false;

  constructor(create: () => T | Promise<T>, options: ResourcePoolOptions<T> = {}) {
    RESOURCE_POOL_OPTION_NAMES.check(options, `${options.name ?? 'resource'} pool`);
    this.#create = create;
    this.#destroy = options.destroy;
    this.#name = options.name ?? 'resource';
    this.#limit = parseOptions(limitSchema, options.limit ?? DEFAULT_POOL_LIMIT, `${this.#name} pool limit`);
  }

  get limit(): number {
    return this.#limit;
  }

  /** A new limit; a lower one takes effect as resources are released (none are closed for it). */
  set limit(value: number) {
    this.#limit = parseOptions(limitSchema, value, `${this.#name} pool limit`);
    this.#pump();
  }

  /** How many resources are handed out. */
  get inUse(): number {
    return this.#inUse.size;
  }

  /** How many resources wait in the pool, created and free. */
  get available(): number {
    return this.#free.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get #total(): number {
    return this.#inUse.size + this.#free.length + this.#creating;
  }

  /**
   * A free resource, a new one while under the limit, or (blocking) the next one released.
   * @throws LimitExceeded when exhausted and `block` is false or `timeout` elapsed; AbortedError on abort.
   */
  async acquire(options: AcquireOptions = {}): Promise<T> {
    const { block = true, timeout, signal } = parseOptions(acquireSchema, options, `${this.#name} pool acquire`, ACQUIRE_OPTION_NAMES);
    throwIfAborted(signal);
    if (this.#closed) throw new KelpError(`The ${this.#name} pool is closed`);
    if (this.#waiters.length === 0) {
      if (this.#free.length > 0) return this.#handOut(this.#free.pop() as T);
      if (this.#total < this.#limit) return this.#createOne();
    }
    if (!block) {
      throw new LimitExceeded(`The ${this.#name} pool is exhausted (limit ${this.#limit}); release one or raise the limit`);
    }
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const waiter: Waiter<T> = {
        resolve: (resource) => {
          cleanup();
          resolve(resource);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      const onAbort = (): void => waiter.reject(new AbortedError(`Waiting for a ${this.#name} was aborted`, { cause: signal?.reason }));
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          waiter.reject(new LimitExceeded(`No ${this.#name} became free within ${timeout}s (pool limit ${this.#limit})`));
        }, timeout * 1000);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Gives `resource` back. Unknown or already released resources are ignored. */
  release(resource: T): void {
    if (!this.#inUse.delete(resource)) return;
    if (this.#closed || this.#total >= this.#limit) {
      void this.#destroyQuietly(resource);
    } else {
      this.#free.push(resource);
    }
    this.#pump();
  }

  /** Acquires a resource, runs `fn` with it and releases it, whatever `fn` does. */
  async use<R>(fn: (resource: T) => Promise<R>, options?: AcquireOptions): Promise<R> {
    const resource = await this.acquire(options);
    try {
      return await fn(resource);
    } finally {
      this.release(resource);
    }
  }

  /** Rejects waiters, destroys free resources; resources in use are destroyed when released. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.reject(new KelpError(`The ${this.#name} pool was closed`));
    const free = this.#free.splice(0);
    await Promise.all(free.map((resource) => this.#destroyQuietly(resource)));
  }

  #handOut(resource: T): T {
    this.#inUse.add(resource);
    return resource;
  }

  async #createOne(): Promise<T> {
    this.#creating++;
    let resource: T;
    try {
      resource = await this.#create();
    } catch (error) {
      this.#creating--;
      // The slot is free again: a waiter may create in it.
      this.#pump();
      throw error;
    }
    this.#creating--;
    return this.#handOut(resource);
  }

  /** Hands free resources (or new ones, under the limit) to waiters in arrival order. */
  #pump(): void {
    while (this.#waiters.length > 0 && !this.#closed) {
      if (this.#free.length > 0) {
        const waiter = this.#waiters.shift() as Waiter<T>;
        waiter.resolve(this.#handOut(this.#free.pop() as T));
      } else if (this.#total < this.#limit) {
        const waiter = this.#waiters.shift() as Waiter<T>;
        this.#createOne().then(waiter.resolve, waiter.reject);
      } else {
        return;
      }
    }
  }

  async #destroyQuietly(resource: T): Promise<void> {
    try {
      await this.#destroy?.(resource);
    } catch {
      // Closing a broken resource is best effort: it is being thrown away anyway.
    }
  }
}

export interface ConnectionPoolOptions {
  limit?: number;
  /** Options for connections built from a URL. */
  connectionOptions?: ConnectionOptions;
}

const CONNECTION_POOL_OPTION_NAMES = OptionNames.of<ConnectionPoolOptions>({ limit: true, connectionOptions: true });

/**
 * A pool of Connections, created lazily from a URL (with options), by cloning a Connection, or by a
 * factory. Acquired connections are not connected yet; they connect on first use.
 */
export class ConnectionPool extends ResourcePool<Connection> {
  constructor(source: string | readonly string[] | Connection | (() => Connection), options: ConnectionPoolOptions = {}) {
    CONNECTION_POOL_OPTION_NAMES.check(options, 'ConnectionPool');
    // Options of connections built later are checked now: a typo must not wait for the first acquire.
    if (options.connectionOptions !== undefined) CONNECTION_OPTION_NAMES.check(options.connectionOptions, 'Connection');
    const create =
      typeof source === 'function'
        ? source
        : source instanceof Connection
          ? () => source.clone()
          : () => new Connection(source, options.connectionOptions);
    super(create, {
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      destroy: (connection) => connection.close(),
      name: 'connection',
    });
  }
}

export interface ProducerPoolOptions {
  /** Options of every Producer the pool builds. */
  producerOptions?: ProducerOptions;
}

const PRODUCER_POOL_OPTION_NAMES = OptionNames.of<ProducerPoolOptions>({ producerOptions: true });
const POOL_GROUP_OPTION_NAMES = OptionNames.of<{ limit?: number }>({ limit: true });

/**
 * Producers on a {@link ConnectionPool}: acquiring takes a connection from it and hands out that
 * connection's producer (built once per connection); releasing gives the connection back. Its
 * limit is the connection pool's.
 */
export class ProducerPool {
  readonly connections: ConnectionPool;
  readonly #options: ProducerOptions | undefined;
  readonly #byConnection = new WeakMap<Connection, Producer>();
  readonly #owner = new Map<Producer, Connection>();

  constructor(connections: ConnectionPool, options: ProducerPoolOptions = {}) {
    PRODUCER_POOL_OPTION_NAMES.check(options, 'ProducerPool');
    if (options.producerOptions !== undefined) PRODUCER_OPTION_NAMES.check(options.producerOptions, 'Producer');
    this.connections = connections;
    this.#options = options.producerOptions;
  }

  get limit(): number {
    return this.connections.limit;
  }

  async acquire(options?: AcquireOptions): Promise<Producer> {
    const connection = await this.connections.acquire(options);
    let producer = this.#byConnection.get(connection);
    if (!producer) {
      producer = connection.Producer(this.#options);
      this.#byConnection.set(connection, producer);
    }
    this.#owner.set(producer, connection);
    return producer;
  }

  /** Gives the producer's connection back to the connection pool. */
  release(producer: Producer): void {
    const connection = this.#owner.get(producer);
    if (!connection) return;
    this.#owner.delete(producer);
    this.connections.release(connection);
  }

  async use<R>(fn: (producer: Producer) => Promise<R>, options?: AcquireOptions): Promise<R> {
    const producer = await this.acquire(options);
    try {
      return await fn(producer);
    } finally {
      this.release(producer);
    }
  }
}

/**
 * Pools keyed by Connection (Kombu's `pools.connections[conn]` / `pools.producers[conn]`): one
 * connection pool of clones of each connection, and one producer pool on it.
 */
export class PoolGroup {
  #limit: number;
  readonly #connections = new Map<Connection, ConnectionPool>();
  readonly #producers = new Map<Connection, ProducerPool>();

  constructor(options: { limit?: number } = {}) {
    POOL_GROUP_OPTION_NAMES.check(options, 'PoolGroup');
    this.#limit = parseOptions(limitSchema, options.limit ?? DEFAULT_POOL_LIMIT, 'pool group limit');
  }

  get limit(): number {
    return this.#limit;
  }

  /** Sets the limit of every pool of the group, now and later. */
  setLimit(limit: number): void {
    this.#limit = parseOptions(limitSchema, limit, 'pool group limit');
    for (const pool of this.#connections.values()) pool.limit = limit;
  }

  connections(connection: Connection): ConnectionPool {
    let pool = this.#connections.get(connection);
    if (!pool) {
      pool = new ConnectionPool(connection, { limit: this.#limit });
      this.#connections.set(connection, pool);
    }
    return pool;
  }

  producers(connection: Connection, options?: ProducerPoolOptions): ProducerPool {
    let pool = this.#producers.get(connection);
    if (!pool) {
      pool = new ProducerPool(this.connections(connection), options);
      this.#producers.set(connection, pool);
    }
    return pool;
  }

  /** Closes every pool of the group and forgets them. */
  async close(): Promise<void> {
    const pools = [...this.#connections.values()];
    this.#connections.clear();
    this.#producers.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

/** The default pool group, explicit and user-visible (`pools.connections(conn)`). */
export const pools = new PoolGroup();
