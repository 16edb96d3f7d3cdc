/**
 * A scriptable transport for Connection, pool and worker tests: it can refuse the next N connects
 * (or every connect to some hosts), records what was attempted, and delivers fake messages from hub
 * callbacks as real transports do.
 */
import type { Hub } from '@kelp/hub';
import { EventEmitter } from 'node:events';
import {
  ChannelError,
  OperationalError,
  type Channel,
  type ChannelState,
  type ConnectionParams,
  type Delivery,
  type OutboundMessage,
  type PublishResult,
  type Transport,
  type TransportCapabilities,
  type TransportDefinition,
  type TransportEvents,
  type TransportState,
} from '../../src/index.js';
import { TransportRegistry } from '../../src/transport-registry.js';

/** What a driver throws when the socket fails (a connection error by this transport's rules). */
export class FakeSocketError extends Error {
  override name = 'FakeSocketError';
}

/** State shared by every FakeTransport one definition creates: the "broker". */
export class FakeBroker {
  /** Refuse this many of the next connect attempts. */
  failConnects = 0;
  /** Refuse every connect to these host names. */
  readonly downHosts = new Set<string>();
  /** Text added to connect failures (e.g. to check that passwords are scrubbed). */
  failureDetail = '';
  /** `host:port` of each connect attempt, in order. */
  readonly attempts: string[] = [];
  readonly transports: FakeTransport[] = [];
  /** Hubs transports were registered with, in order. */
  readonly registrations: Hub[] = [];
  channelsCreated = 0;
  /** Makes connect() hang until aborted (for connectTimeout tests). */
  hangConnects = false;
  /** Fail this many of the next publishes with a FakeSocketError (a connection error). */
  failPublishes = 0;
  /** Every stored publish: channel id, exchange, routing key and body text. */
  readonly published: { channelId: number; exchange: string; routingKey: string; body: string }[] = [];
}

export class FakeChannel implements Channel {
  static #ids = 0;
  readonly channelId = ++FakeChannel.#ids;
  state: ChannelState = 'open';
  readonly consumers = new Map<string, (delivery: Delivery) => void>();
  readonly acked: string[] = [];

  constructor(readonly broker: FakeBroker = new FakeBroker()) {}

  async exchangeDeclare(): Promise<void> {}
  async exchangeDelete(): Promise<void> {}
  async queueDeclare(queue: string): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    return { queue, messageCount: 0, consumerCount: this.consumers.size };
  }
  async queueBind(): Promise<void> {}
  async queueUnbind(): Promise<void> {}
  async queuePurge(): Promise<number> {
    return 0;
  }
  async queueDelete(): Promise<number> {
    return 0;
  }
  async basicPublish(message: OutboundMessage, exchange: string, routingKey: string): Promise<PublishResult> {
    if (this.broker.failPublishes > 0) {
      this.broker.failPublishes--;
      throw new FakeSocketError('publish: socket closed');
    }
    const body = new TextDecoder().decode(message.body);
    this.broker.published.push({ channelId: this.channelId, exchange, routingKey, body });
    return { status: 'routed', queues: [routingKey], deliveryTag: `dt-${this.broker.published.length}` };
  }
  async basicGet(): Promise<Delivery | undefined> {
    return undefined;
  }
  async basicConsume(queue: string, options: { consumerTag?: string; onDelivery: (d: Delivery) => void }): Promise<string> {
    const tag = options.consumerTag ?? `ctag-${queue}-${this.consumers.size + 1}`;
    this.consumers.set(tag, options.onDelivery);
    return tag;
  }
  async basicCancel(tag: string): Promise<void> {
    this.consumers.delete(tag);
  }
  async basicAck(tag: string): Promise<void> {
    this.acked.push(tag);
  }
  async basicReject(): Promise<void> {}
  async basicRestore(): Promise<void> {}
  async basicRecover(): Promise<void> {}
  async basicQos(): Promise<void> {}
  async close(): Promise<void> {
    this.state = 'closed';
    this.consumers.clear();
  }
}

export class FakeTransport implements Transport {
  readonly driverName = 'fake';
  readonly capabilities: TransportCapabilities = {
    exchangeTypes: ['direct'],
    priority: false,
    visibilityTimeout: false,
    remote: true,
  };
  state: TransportState = 'idle';
  readonly channels: FakeChannel[] = [];
  hub: Hub | undefined;
  readonly #events = new EventEmitter();

  constructor(
    readonly params: ConnectionParams,
    readonly broker: FakeBroker,
  ) {}

  async connect(signal?: AbortSignal): Promise<void> {
    const target = `${this.params.hostname}:${this.params.port ?? ''}`;
    this.broker.attempts.push(target);
    this.state = 'connecting';
    if (this.broker.hangConnects) {
      await new Promise<void>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(new OperationalError('aborted connect')), { once: true });
      });
    }
    if (this.broker.downHosts.has(this.params.hostname) || this.broker.failConnects > 0) {
      if (!this.broker.downHosts.has(this.params.hostname)) this.broker.failConnects--;
      this.state = 'closed';
      throw new FakeSocketError(`connection refused by ${target}${this.broker.failureDetail}`);
    }
    this.state = 'connected';
  }

  async createChannel(): Promise<FakeChannel> {
    if (this.state !== 'connected') throw new OperationalError('fake transport is not connected');
    const channel = new FakeChannel(this.broker);
    this.channels.push(channel);
    this.broker.channelsCreated++;
    return channel;
  }

  async close(): Promise<void> {
    for (const channel of this.channels) await channel.close();
    this.state = 'closed';
  }

  registerWithEventLoop(hub: Hub): void {
    this.hub = hub;
    this.broker.registrations.push(hub);
  }

  isConnectionError(error: unknown): boolean {
    return error instanceof FakeSocketError;
  }

  isChannelError(error: unknown): boolean {
    return error instanceof ChannelError;
  }

  /** Delivers one message to the first consumer of any channel, from a hub callback. */
  deliverSoon(tag = 'tag-1'): void {
    const hub = this.hub;
    if (!hub) throw new Error('the fake transport is not registered with a hub');
    hub.callSoon(() => {
      const delivery: Delivery = {
        body: new TextEncoder().encode('"hi"'),
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: {},
        properties: {},
        deliveryInfo: { exchange: '', routingKey: 'q', redelivered: false },
        deliveryTag: tag,
        noAck: false,
      };
      for (const channel of this.channels) {
        const consumer = channel.consumers.values().next().value;
        if (consumer) {
          consumer(delivery);
          break;
        }
      }
      this.emit('delivery', delivery);
    });
  }

  emit<E extends keyof TransportEvents>(event: E, ...args: TransportEvents[E]): void {
    this.#events.emit(event, ...args);
  }

  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this {
    this.#events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this {
    this.#events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }
}

export function fakeDefinition(broker: FakeBroker, aliases: readonly string[] = ['fake']): TransportDefinition {
  return {
    aliases,
    defaultPort: 7000,
    create: (params) => {
      const transport = new FakeTransport(params, broker);
      broker.transports.push(transport);
      return transport;
    },
  };
}

/** A registry holding only the fake transport under `fake://`, and its broker. */
export function fakeSetup(): { broker: FakeBroker; registry: TransportRegistry } {
  const broker = new FakeBroker();
  const registry = new TransportRegistry();
  registry.register(fakeDefinition(broker));
  return { broker, registry };
}
