/**
 * `Connection`: a broker URL (or a failover list of them), the transport it selects, and Kombu's
 * connection helpers: lazy connect, `ensureConnection` with failover, `ensure` (retry an operation
 * across reconnects), channels, the Hub that drives consumption, and `drainEvents`.
 *
 * Nothing here shows a password: messages, events and `toString()` use the redacted URL, and
 * driver errors that quote the password are scrubbed.
 */
import { Hub } from '@kelp/hub';
import { EventEmitter } from 'node:events';
import { Connector } from './connection-connect.js';
import { runEnsured, type EnsureHost } from './connection-ensure.js';
import type { ConnectionParams } from './connection-params.js';
import { ConnectionTargets } from './connection-targets.js';
import {
  CONNECTION_OPTION_NAMES,
  connectionOptionsSchema,
  ENSURE_CONNECTION_OPTION_NAMES,
  ENSURE_OPTION_NAMES,
  lazyConnectPolicy,
  type ConnectionEvents,
  type ConnectionOptions,
  type ConnectionState,
  type EnsureConnectionOptions,
  type EnsureOptions,
} from './connection-options.js';
import { checkDrainOptions, drainEvents, type DrainOptions } from './drain.js';
import { KelpError, OperationalError } from './errors.js';
import { OptionNames, parseOptions } from './option-parsing.js';
import { Consumer, DEFAULT_STOP_TIMEOUT, type ConsumerOptions } from './consumer.js';
import { setChannelOwner } from './connection-channels.js';
import { stopConsumers } from './consumer-registry.js';
import { z } from 'zod';
import { Producer, type ProducerOptions } from './producer.js';
import type { Queue } from './queue.js';
import type { Channel, Transport } from './transport.js';
import { forwardTransportEvents } from './transport-events.js';
import { defaultRegistry, type TransportRegistry } from './transport-registry.js';
import { parseUrl } from './url.js';

const closeOptionsSchema = z.object({ timeout: z.number().min(0).optional() });
const CLOSE_OPTION_NAMES = OptionNames.of<{ timeout?: number }>({ timeout: true });
const CONNECT_OPTION_NAMES = OptionNames.of<{ signal?: AbortSignal }>({ signal: true });

export class Connection {
  readonly #input: string | readonly string[];
  readonly #options: ConnectionOptions;
  readonly #registry: TransportRegistry;
  readonly #targets: ConnectionTargets;
  readonly #handledListeners = new Set<() => void>();
  readonly #events = new EventEmitter<ConnectionEvents>();
  #state: ConnectionState = 'idle';
  #transport: Transport | undefined;
  #detachTransport: (() => void) | undefined;
  readonly #connector: Connector;
  /** A connected transport was dropped (a connection error): the next connect is a reconnect. */
  #lost = false;
  #channels = new Set<Channel>();
  /** The transport each channel was opened on, so `ensure` drops only the transport that failed. */
  readonly #channelTransports = new WeakMap<Channel, Transport>();
  #defaultChannel: Promise<Channel> | undefined;
  #hub: Hub | undefined;
  #ownsHub = false;
  #eventLoopWanted = false;
  readonly #registered = new WeakSet<Transport>();

  constructor(url: string | readonly string[] = 'memory://', options: ConnectionOptions = {}) {
    this.#options = parseOptions(connectionOptionsSchema, options, 'Connection', CONNECTION_OPTION_NAMES) as ConnectionOptions;
    this.#input = url;
    const registry = this.#options.registry ?? defaultRegistry;
    this.#registry = registry;
    const { transportOptions, tls, virtualHost } = this.#options;
    const parse = (one: string): ConnectionParams => parseUrl(one, { transportOptions, tls, virtualHost, registry });
    this.#targets = new ConnectionTargets(url, parse, this.#options.failoverStrategy);
    this.#connector = new Connector({
      targets: this.#targets,
      connectTimeout: this.#options.connectTimeout,
      isConnected: () => this.#state === 'connected',
      attemptStarted: () => {
        if (this.#state !== 'reconnecting') this.#state = 'connecting';
      },
      attemptConnected: () => this.#attemptConnected(),
      gaveUp: () => {
        if (this.#state !== 'connected') this.#state = 'idle';
      },
      transport: () => this.transport,
      currentTransport: () => this.#transport,
      dropTransport: (transport) => this.#dropTransport(transport),
      isConnectionError: (error) => this.#isConnectionError(error),
      safeError: (error) => this.#safeError(error),
    });
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** Every URL of the failover list, with passwords replaced by `**`. */
  get redactedUrl(): string {
    return this.#targets.redacted;
  }

  /** The URL connection attempts go to now (redacted). */
  get currentUrl(): string {
    return this.#targets.currentUrl;
  }

  /** The transport for the current URL, created (not connected) on first access. */
  get transport(): Transport {
    if (this.#transport) return this.#transport;
    const params = this.#targets.current;
    const transport = this.#registry.resolve(params.transport).create(params);
    this.#transport = transport;
    this.#detachTransport = forwardTransportEvents(transport, {
      emit: (event, ...args) => this.#emit(event, ...args),
      hasListeners: (event) => this.#events.listenerCount(event) > 0,
      sanitize: (error) => this.#targets.sanitize(error),
    });
    return transport;
  }

  /** The Hub consumption runs on: the connection's own unless `registerWithEventLoop` gave another. */
  get hub(): Hub {
    if (!this.#hub) {
      this.#hub = new Hub();
      this.#ownsHub = true;
    }
    return this.#hub;
  }

  on<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    this.#events.on(event as keyof ConnectionEvents, listener as never);
    return this;
  }

  off<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    this.#events.off(event as keyof ConnectionEvents, listener as never);
    return this;
  }

  /** A new Connection with the same URLs and options (not connected). */
  clone(): Connection {
    return new Connection(this.#input, this.#options);
  }

  /**
   * Connects now: one attempt per URL of the failover list, no sleeps.
   * @throws OperationalError naming the (redacted) URL, with the last failure as `cause`.
   */
  async connect(options: { signal?: AbortSignal } = {}): Promise<this> {
    CONNECT_OPTION_NAMES.check(options, 'Connection.connect');
    await this.ensureConnection({
      maxRetries: this.#targets.size - 1,
      intervalStart: 0,
      intervalStep: 0,
      intervalMax: 0,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return this;
  }

  /**
   * Connects, retrying connection failures on Kombu's schedule (defaults 2 s, +2 s, up to 32 s;
   * `maxRetries` n = n + 1 attempts; no limit when undefined). Each failure switches to the next
   * URL; the sleep comes only after a full cycle through them.
   */
  async ensureConnection(options: EnsureConnectionOptions = {}): Promise<this> {
    ENSURE_CONNECTION_OPTION_NAMES.check(options, 'Connection.ensureConnection');
    if (this.#state !== 'connected') await this.#connector.establish(options);
    return this;
  }

  /** Whoever's attempt connected, the event loop must get the new transport and listeners hear of a reconnect. */
  #attemptConnected(): void {
    this.#state = 'connected';
    if (this.#eventLoopWanted) this.#registerTransport();
    if (this.#lost) {
      this.#lost = false;
      this.#emit('reconnected');
    }
  }

  /**
   * True for errors reconnecting may fix: OperationalErrors and what the transport classifies as
   * connection errors (Kombu's `connection_errors`). Workers use it to decide to reconnect.
   */
  isConnectionError(error: unknown): boolean {
    return this.#isConnectionError(error);
  }

  #isConnectionError(error: unknown): boolean {
    if (error instanceof OperationalError) return true;
    if (this.#connector.failedWithConnectionError(error)) return true;
    return this.#transport?.isConnectionError(error) ?? false;
  }

  /** A KelpError as is (scrubbed); anything else wrapped in OperationalError. */
  #safeError(error: unknown): Error {
    const safe = this.#targets.sanitize(error);
    if (safe instanceof KelpError) return safe;
    return new OperationalError(`${this.#targets.redacted}: ${safe.message}`, { cause: safe });
  }

  /**
   * Connects on first use. Like Kombu's `default_channel`, the transport options `maxRetries`,
   * `intervalStart`, `intervalStep` and `intervalMax` turn this into an `ensureConnection` with that
   * policy; without them it is `connect()` (one attempt per URL), so a dead broker fails fast
   * instead of hanging the first publish for ever.
   */
  async #ready(): Promise<Transport> {
    if (this.#state !== 'connected') {
      const policy = lazyConnectPolicy(this.#targets.current.transportOptions);
      if (policy) await this.ensureConnection(policy);
      else await this.connect();
    }
    return this.transport;
  }

  /** Opens a new channel (connecting first if needed); `close()` closes it too. */
  async channel(): Promise<Channel> {
    const transport = await this.#ready();
    const channel = await transport.createChannel();
    this.#channels.add(channel);
    this.#channelTransports.set(channel, transport);
    setChannelOwner(channel, this);
    return channel;
  }

  /** The channel `ensure`, Producers and Consumers built on this connection use; renewed after a reconnect. */
  async defaultChannel(): Promise<Channel> {
    for (let current = this.#defaultChannel; current; current = this.#defaultChannel) {
      // A failed creation fails everyone who waited for it: each making its own attempt in turn
      // is the hot reconnect loop `ensure` must not have (its policy decides when to try again).
      const channel = await current;
      if (channel.state === 'open' && this.#state === 'connected') return channel;
      // Another caller may have replaced it while we waited; only the stale one is forgotten.
      if (this.#defaultChannel === current) this.#defaultChannel = undefined;
    }
    const created = this.channel();
    this.#defaultChannel = created;
    created.catch(() => {
      if (this.#defaultChannel === created) this.#defaultChannel = undefined;
    });
    return created;
  }

  /**
   * Runs `fn` with the default channel, reconnecting and retrying on connection errors under
   * `policy` (Kombu's `ensure`; see {@link runEnsured} for the rules, concurrent calls included).
   */
  async ensure<T>(fn: (channel: Channel) => Promise<T>, policy: EnsureOptions = {}): Promise<T> {
    ENSURE_OPTION_NAMES.check(policy, 'Connection.ensure');
    this.#ensureHost ??= {
      defaultChannel: () => this.defaultChannel(),
      transportOf: (channel) => this.#channelTransports.get(channel),
      currentTransport: () => this.#transport,
      isConnectionError: (error) => this.#isConnectionError(error),
      safeError: (error) => this.#safeError(error),
      sanitize: (error) => this.#targets.sanitize(error),
      collect: () => this.#collect(),
      seenBy: (source) => this.#connector.seenBy(source),
      reconnect: (options, firstFailure, seen) => this.#connector.establish(options, firstFailure, seen),
      replaceDefaultChannel: (broken) => this.#replaceDefaultChannel(broken),
    };
    return runEnsured(this.#ensureHost, fn, policy);
  }

  #ensureHost: EnsureHost | undefined;

  async #replaceDefaultChannel(broken: Channel): Promise<void> {
    this.#defaultChannel = undefined;
    this.#channels.delete(broken);
    await broken.close().catch(() => undefined);
  }

  /** A Producer publishing through this connection's default channel. */
  Producer(options?: ProducerOptions): Producer {
    return new Producer(this, options);
  }

  /** A Consumer of `queues` on this connection's default channel (it drains this connection). */
  Consumer(queues: Queue | readonly Queue[], options?: ConsumerOptions): Consumer {
    return new Consumer(this, queues, options);
  }

  /**
   * Uses `hub` for consumption instead of the connection's own. The transport is registered with it
   * once per transport instance, now if connected, and again for the new transport after a reconnect.
   */
  registerWithEventLoop(hub: Hub): void {
    if (this.#hub && this.#hub !== hub && this.#ownsHub) this.#hub.close();
    this.#hub = hub;
    this.#ownsHub = false;
    this.#eventLoopWanted = true;
    if (this.#state === 'connected') this.#registerTransport();
  }

  #registerTransport(): void {
    const transport = this.transport;
    if (this.#registered.has(transport)) return;
    this.#registered.add(transport);
    transport.registerWithEventLoop(this.hub);
  }

  /**
   * Waits until the transport delivers at least one message to a consumer, running the hub if
   * nobody else is. Connects first if needed.
   * @throws OperationTimeoutError after `timeout` seconds without a delivery; AbortedError on abort;
   *   OperationalError if the connection is lost meanwhile.
   */
  async drainEvents(options: DrainOptions = {}): Promise<void> {
    checkDrainOptions(options);
    const transport = await this.#ready();
    this.#eventLoopWanted = true;
    this.#registerTransport();
    await drainEvents(transport, this.hub, options, (error) => this.#targets.sanitize(error), (listener) => {
      this.#handledListeners.add(listener);
      return () => this.#handledListeners.delete(listener);
    });
  }

  /**
   * Called by consumers when a message has been through their callbacks. A drain counts it as an
   * event, so Kombu's loop `while (n < total) await conn.drainEvents()` also works when async
   * callbacks finish a batch that was delivered by one earlier drain. A `hub.runUntil` whose
   * predicate counts handled messages re-checks it now rather than at the hub's next timer.
   */
  noteHandled(): void {
    for (const listener of this.#handledListeners) listener();
    this.#hub?.wake();
  }

  /** Closes the channels and the transport but keeps the hub and listeners, ready to reconnect. */
  async #collect(): Promise<void> {
    // Forget the transport before the first await, so that concurrent callers see it gone and
    // a connect started meanwhile builds (and keeps) a new one.
    const transport = this.#transport;
    if (this.#state === 'connected') this.#lost = true;
    this.#state = 'reconnecting';
    this.#defaultChannel = undefined;
    const channels = [...this.#channels];
    this.#channels.clear();
    await this.#dropTransport(transport, { closeChannelsFirst: channels });
  }

  /**
   * Forgets `transport` if it is still the current one, and closes it quietly (it failed or is
   * being replaced), after `closeChannelsFirst`.
   */
  async #dropTransport(transport: Transport | undefined, options: { closeChannelsFirst?: Channel[] } = {}): Promise<void> {
    if (transport && this.#transport === transport) {
      this.#transport = undefined;
      this.#detachTransport?.();
      this.#detachTransport = undefined;
    }
    const channels = options.closeChannelsFirst ?? [];
    await Promise.all(channels.map((channel) => channel.close().catch(() => undefined)));
    await transport?.close().catch(() => undefined);
  }

  /** Drops the connection so the next use reconnects (used by workers after a connection error). */
  async collect(): Promise<void> {
    await this.#collect();
    this.#state = 'idle';
  }

  /**
   * Closes gracefully: every consumer on this connection's channels stops taking deliveries and
   * hands its prefetched, not-yet-started messages back at once; callbacks in progress get up to
   * `timeout` seconds (default 10) to finish; then every channel closes (the transport restores
   * whatever is still unacked), then the transport and the connection's own hub. Idempotent; a
   * later use connects again.
   */
  async close(options: { timeout?: number } = {}): Promise<void> {
    const { timeout } = parseOptions(closeOptionsSchema, options, 'Connection.close', CLOSE_OPTION_NAMES);
    if (this.#state === 'closed' && !this.#transport) return;
    this.#connector.noteClose();
    await this.#connector.inFlight?.catch(() => undefined);
    await stopConsumers(this.#channels, timeout ?? DEFAULT_STOP_TIMEOUT);
    this.#state = 'closing';
    await this.#collect();
    // Closing is not losing the link: a later use connects without a 'reconnected' event.
    this.#lost = false;
    if (this.#ownsHub && this.#hub) {
      this.#hub.close();
      this.#hub = undefined;
      this.#ownsHub = false;
    }
    this.#state = 'closed';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The `visibilityTimeout` transport option (seconds) of the current URL, when one was given. */
  get visibilityTimeout(): number | undefined {
    const value = this.#targets.current.transportOptions['visibilityTimeout'];
    return typeof value === 'number' ? value : undefined;
  }

  /**
   * Emits 'error' (password scrubbed) if anyone listens and returns true; false when nobody does
   * (Node would throw an unheard 'error'). Consumers use it for errors no handler of theirs took.
   */
  reportError(error: unknown): boolean {
    if (this.#events.listenerCount('error') === 0) return false;
    this.#emit('error', this.#targets.sanitize(error));
    return true;
  }

  toString(): string {
    return `<Connection: ${this.#targets.redacted} (${this.#state})>`;
  }

  #emit<E extends keyof ConnectionEvents>(event: E, ...args: ConnectionEvents[E]): void {
    (this.#events.emit as (name: E, ...rest: ConnectionEvents[E]) => boolean)(event, ...args);
  }
}
