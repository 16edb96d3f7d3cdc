/**
 * `Producer`: serializes, compresses and publishes messages (docs/wire-format.md#envelope). The
 * Kombu envelope itself is built by the transport's codec from the {@link OutboundMessage} this
 * module produces.
 */
import { z } from 'zod';
import { defaultCompressors, type CompressionRegistry } from './compression/registry.js';
import { AbortedError, ConfigurationError, EncodeError, throwIfAborted } from './errors.js';
import { deliveryModeSchema, Exchange, resolveDeliveryMode, type DeliveryModeOption } from './exchange.js';
import { parseDelay } from './delivery-delay.js';
import { declaredEntities, maybeDeclare, type Declarable } from './maybe-declare.js';
import type { Headers, HeaderValue, MessageProperties, OutboundMessage, PublishResult } from './message-types.js';
import { OptionNames, parseOptions } from './option-parsing.js';
import { parseConfirm, type BasicPublishOptions, type ConfirmOption, type PublishConfirm } from './publish-confirm.js';
import type { RetryPolicy } from './retry-policy-types.js';
import { defaultSerializers } from './serialization/default-registry.js';
import { isBytes, type Serialized, type SerializerRegistry } from './serialization/registry.js';
import type { Channel } from './transport.js';

/** What `Connection.ensure` offers; declared here so core's producer does not depend on connection.ts. */
export interface RetryRunner {
  ensure<T>(fn: (channel: Channel) => Promise<T>, policy?: RetryPolicy & { signal?: AbortSignal }): Promise<T>;
}

/** Anything that can hand out its default channel and retry: a `Connection`. */
export interface ConnectionLike extends RetryRunner {
  defaultChannel(): Promise<Channel>;
}

export type ChannelOrConnection = Channel | ConnectionLike;

export function isConnectionLike(value: ChannelOrConnection): value is ConnectionLike {
  return typeof (value as Partial<ConnectionLike>).defaultChannel === 'function';
}

export interface ProducerOptions {
  /** Default exchange (default: the default exchange '', routing by queue name). */
  exchange?: Exchange | string;
  routingKey?: string;
  /** Serializer name; undefined: json, except strings (text/plain) and bytes (application/data). */
  serializer?: string;
  compression?: string;
  /** Declare the producer's exchange before the first publish (cached per connection). */
  autoDeclare?: boolean;
  serializers?: SerializerRegistry;
  compressors?: CompressionRegistry;
  /** The `confirm` of every publish that does not pass its own (see {@link PublishOptions.confirm}). */
  confirm?: ConfirmOption;
}

export interface PublishOptions {
  exchange?: Exchange | string;
  routingKey?: string;
  serializer?: string;
  compression?: string;
  /** Given: the body is not serialized (a string is encoded with `contentEncoding`). */
  contentType?: string;
  contentEncoding?: string;
  headers?: Headers;
  /** 0-9 (on Redis 0 is consumed first). */
  priority?: number;
  /**
   * Message TTL in seconds; stored as milliseconds. A delayed message's TTL counts from its due
   * time (docs/wire-format.md#delayed-delivery).
   */
  expiration?: number;
  /**
   * Delayed delivery: seconds from now until the message becomes visible in its queues. Routed
   * now and kept in each queue's delayed set (not in any consumer's memory) until a kelp process
   * running a hub moves it (docs/configuration.md#delayed-delivery). Not with `eta`.
   */
  countdown?: number;
  /** Delayed delivery at a time: a Date or an ISO 8601 string (a time past publishes at once). Not with `countdown`. */
  eta?: Date | string;
  deliveryMode?: DeliveryModeOption;
  /** Entities to declare (cached per connection) before publishing. */
  declare?: readonly Declarable[];
  /**
   * Resolve only once this many replicas hold what the publish stored: `{ replicas, timeout }`
   * (timeout in seconds), `true` for one replica within DEFAULT_CONFIRM_TIMEOUT, `false` to
   * turn a Producer's default off. Rejects with PublishNotConfirmedError when fewer replicas
   * acknowledged in time; the message stays stored (docs/confirmed-publishes.md).
   */
  confirm?: ConfirmOption;
  /** Retry through `Connection.ensure` on connection errors. Needs a Producer built on a connection. */
  retry?: boolean;
  retryPolicy?: RetryPolicy;
  correlationId?: string;
  replyTo?: string;
  messageId?: string;
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  /** Further AMQP properties (yours or Kombu's snake_case ones), copied to the wire verbatim. */
  properties?: Record<string, HeaderValue>;
  signal?: AbortSignal;
}

export const PRODUCER_OPTION_NAMES = OptionNames.of<ProducerOptions>({
  exchange: true, routingKey: true, serializer: true, compression: true, autoDeclare: true, serializers: true, compressors: true,
  confirm: true,
});

/** The named AMQP properties publish copies to the message's properties. */
const NAMED_PROPERTIES = {
  correlationId: true, replyTo: true, messageId: true, timestamp: true, type: true, userId: true, appId: true,
} as const;
const PROPERTY_NAMES: ReadonlySet<string> = new Set(Object.keys(NAMED_PROPERTIES));

/**
 * Every name publish accepts. Unlike Kombu's `publish(**properties)`, an unknown name is refused
 * rather than sent as a property, so `routing_key` or `priorty` cannot vanish into the message:
 * other properties go in `properties`.
 */
const PUBLISH_OPTION_NAMES = OptionNames.of<PublishOptions>({
  exchange: true, routingKey: true, serializer: true, compression: true, contentType: true, contentEncoding: true,
  headers: true, priority: true, expiration: true, deliveryMode: true, declare: true, retry: true, retryPolicy: true,
  properties: true, signal: true, confirm: true, countdown: true, eta: true, ...NAMED_PROPERTIES,
});

function isHeaderValue(value: unknown): value is HeaderValue {
  if (value === null) return true;
  const type = typeof value;
  if (type === 'string' || type === 'boolean') return true;
  if (type === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isHeaderValue);
  if (type === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value as object).every(isHeaderValue);
  }
  return false;
}

const producerOptionsSchema = z.object({
  routingKey: z.string().optional(),
  serializer: z.string().min(1).optional(),
  compression: z.string().min(1).optional(),
  autoDeclare: z.boolean().default(true),
});

const publishOptionsSchema = z.object({
  routingKey: z.string().optional(),
  priority: z.number().int().min(0).max(9).optional(),
  expiration: z.number().finite().min(0).optional(),
  deliveryMode: deliveryModeSchema.optional(),
  serializer: z.string().min(1).optional(),
  compression: z.string().min(1).optional(),
  contentType: z.string().min(1).optional(),
  contentEncoding: z.string().min(1).optional(),
});

export class Producer {
  readonly exchange: Exchange;
  readonly routingKey: string;
  readonly serializer: string | undefined;
  readonly compression: string | undefined;
  readonly autoDeclare: boolean;
  /** The confirmation publishes ask for unless they pass `confirm` (undefined: none). */
  readonly confirm: PublishConfirm | undefined;
  private readonly source: ChannelOrConnection;
  private readonly serializers: SerializerRegistry;
  private readonly compressors: CompressionRegistry;
  private boundChannel: Channel | undefined;

  constructor(channelOrConnection: ChannelOrConnection, options: ProducerOptions = {}) {
    PRODUCER_OPTION_NAMES.check(options, 'Producer');
    const { exchange, serializers, compressors, confirm, ...rest } = options;
    const parsed = parseOptions(producerOptionsSchema, rest, 'Producer');
    this.confirm = parseConfirm(confirm, 'Producer');
    this.source = channelOrConnection;
    this.boundChannel = isConnectionLike(channelOrConnection) ? undefined : channelOrConnection;
    this.exchange = typeof exchange === 'string' ? new Exchange(exchange) : (exchange ?? new Exchange(''));
    this.routingKey = parsed.routingKey ?? '';
    this.serializer = parsed.serializer;
    this.compression = parsed.compression;
    this.autoDeclare = parsed.autoDeclare;
    this.serializers = serializers ?? defaultSerializers;
    this.compressors = compressors ?? defaultCompressors;
  }

  /** The channel publishes go to (undefined until first use when built on a connection). */
  get channel(): Channel | undefined {
    return this.boundChannel;
  }

  /** The connection this producer was built on, if any. */
  get connection(): ConnectionLike | undefined {
    return isConnectionLike(this.source) ? this.source : undefined;
  }

  /** Switches a channel-built producer to a new channel (a connection-built one follows its connection). */
  revive(channel: Channel): void {
    this.boundChannel = channel;
  }

  /** Declares the producer's exchange (no-op for '' and `amq.*`). */
  async declare(): Promise<void> {
    const channel = await this.resolveChannel();
    if (this.exchange.canDeclare) await maybeDeclare(this.exchange, channel, this.cacheOwner(channel));
  }

  /**
   * Serializes, compresses and publishes `body`. Resolves with where the message went; rejects
   * with ConfigurationError for bad options, EncodeError for a body it cannot encode, and with
   * `confirm` PublishNotConfirmedError when too few replicas acknowledged it (it stays stored).
   *
   * Not `async`: on a channel with nothing left to declare the message goes to the channel within
   * this call and its promise is handed back as is. Every async layer here used to cost a promise
   * and a tick per publish, and publishing is the hot path. Errors still arrive as rejections.
   */
  publish(body: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    try {
      const { signal } = options;
      throwIfAborted(signal);
      const message = this.prepare(body, options);
      const exchange = options.exchange ?? this.exchange;
      const exchangeName = typeof exchange === 'string' ? exchange : exchange.name;
      const routingKey = options.routingKey ?? this.routingKey;
      const entities = this.entitiesToDeclare(options.declare);
      const confirm = options.confirm === undefined ? this.confirm : parseConfirm(options.confirm, 'publish');
      const deliverAt = options.countdown === undefined && options.eta === undefined ? undefined : parseDelay(options.countdown, options.eta, 'publish');
      const publishOptions: BasicPublishOptions | undefined = deliverAt === undefined ? undefined : { deliverAt };
      if (confirm === undefined) return this.send(message, exchangeName, routingKey, publishOptions, entities, options);
      // Waiting for replicas is the part of a publish that can take long: the signal ends the wait.
      const sent = this.send(message, exchangeName, routingKey, { ...publishOptions, confirm }, entities, options);
      return signal === undefined ? sent : abandonOnAbort(sent, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Publishes by the path the options and the producer's source call for (retry, declare, or straight). */
  private send(
    message: OutboundMessage,
    exchangeName: string,
    routingKey: string,
    publishOptions: BasicPublishOptions | undefined,
    entities: readonly Declarable[],
    { signal, retry, retryPolicy }: PublishOptions,
  ): Promise<PublishResult> {
    if (retry) return this.publishWithRetry(message, exchangeName, routingKey, publishOptions, entities, signal, retryPolicy);
    if (entities.length === 0 && !isConnectionLike(this.source)) {
      return (this.boundChannel ?? this.source).basicPublish(message, exchangeName, routingKey, publishOptions);
    }
    return this.resolveChannel().then((channel) =>
      this.publishOn(channel, message, exchangeName, routingKey, publishOptions, entities, signal),
    );
  }

  /** Declares what is still undeclared (cached per connection), then publishes. */
  private async publishOn(
    channel: Channel,
    message: OutboundMessage,
    exchangeName: string,
    routingKey: string,
    publishOptions: BasicPublishOptions | undefined,
    entities: readonly Declarable[],
    signal: AbortSignal | undefined,
  ): Promise<PublishResult> {
    for (const entity of entities) {
      throwIfAborted(signal);
      await maybeDeclare(entity, channel, this.cacheOwner(channel));
    }
    throwIfAborted(signal);
    return channel.basicPublish(message, exchangeName, routingKey, publishOptions);
  }

  private publishWithRetry(
    message: OutboundMessage,
    exchangeName: string,
    routingKey: string,
    publishOptions: BasicPublishOptions | undefined,
    entities: readonly Declarable[],
    signal: AbortSignal | undefined,
    retryPolicy: RetryPolicy | undefined,
  ): Promise<PublishResult> {
    const connection = this.connection;
    if (!connection) {
      throw new ConfigurationError(
        'publish({ retry: true }) needs a Producer built on a Connection (new Producer(connection)), not on a channel',
        { option: 'retry' },
      );
    }
    const policy: RetryPolicy & { signal?: AbortSignal } = { ...retryPolicy };
    if (signal) policy.signal = signal;
    return connection.ensure((channel) => {
      this.boundChannel = channel;
      // Every attempt declares again what is not cached: a reconnect may have forgotten it.
      return this.publishOn(channel, message, exchangeName, routingKey, publishOptions, entities, signal);
    }, policy);
  }

  /**
   * The entities to declare before this publish: `declare`, and the producer's exchange when
   * autoDeclare is on. Those already declared through this producer's cache owner are left out
   * when that is known without waiting (a channel-built producer), so a warm publish declares
   * nothing and stays synchronous up to the channel.
   */
  private entitiesToDeclare(declare: readonly Declarable[] | undefined): Declarable[] {
    const entities: Declarable[] = declare === undefined ? [] : [...declare];
    if (this.autoDeclare && this.exchange.canDeclare && !entities.includes(this.exchange)) entities.unshift(this.exchange);
    if (entities.length === 0 || isConnectionLike(this.source)) return entities;
    const owner = this.cacheOwner(this.boundChannel ?? this.source);
    const declared = declaredEntities(owner);
    return entities.filter((entity) => !entity.canCacheDeclaration || !declared.has(entity.cacheKey));
  }

  /** Builds the {@link OutboundMessage} `publish` would send (docs/wire-format.md#envelope). */
  prepare(body: unknown, options: PublishOptions = {}): OutboundMessage {
    // zod only when a check by hand finds something wrong: it then words the error (parsing
    // valid options with it costs time on every publish and returns the same values).
    const parsed = validPublishOptions(options) ? options : parseOptions(publishOptionsSchema, pickValidated(options), 'publish');
    const exchange = options.exchange ?? this.exchange;
    const serialized = this.serialize(body, parsed.contentType, parsed.contentEncoding, parsed.serializer);
    // A copy: the caller may reuse its headers object before a connection-built publish runs.
    const headers: Headers = { ...options.headers };
    let bytes = serialized.body;
    const compression = parsed.compression ?? this.compression;
    if (compression !== undefined) {
      const compressed = this.compressors.compress(bytes, compression);
      bytes = compressed.body;
      headers['compression'] = compressed.contentType;
    }
    const properties: MessageProperties = {};
    const extras: Record<string, HeaderValue | undefined> = properties;
    // One pass over the caller's keys both refuses unknown names and copies the named properties.
    for (const name in options) {
      if (!PROPERTY_NAMES.has(name)) {
        if (!PUBLISH_OPTION_NAMES.has(name)) PUBLISH_OPTION_NAMES.refuse(name, 'publish');
        continue;
      }
      const value = options[name as keyof PublishOptions];
      if (value === undefined) continue;
      if (!isHeaderValue(value)) {
        throw new ConfigurationError(
          `publish: property \`${name}\` must be a JSON-compatible value (string, finite number, boolean, null, array, plain object)`,
          { option: name },
        );
      }
      extras[name] = value;
    }
    const more = options.properties;
    if (more !== undefined) for (const [name, value] of Object.entries(more)) extras[name] = value;
    const exchangeMode = typeof exchange === 'string' ? undefined : exchange.deliveryMode;
    properties.deliveryMode =
      parsed.deliveryMode !== undefined ? resolveDeliveryMode(parsed.deliveryMode) : (exchangeMode ?? 2);
    if (parsed.expiration !== undefined) properties.expiration = String(Math.trunc(parsed.expiration * 1000));
    properties.priority = parsed.priority ?? 0;
    return {
      body: bytes,
      contentType: serialized.contentType,
      contentEncoding: serialized.contentEncoding,
      headers,
      properties,
    };
  }

  private serialize(
    body: unknown,
    contentType: string | undefined,
    contentEncoding: string | undefined,
    serializer: string | undefined,
  ): Serialized {
    if (contentType === undefined) return this.serializers.dumps(body, serializer ?? this.serializer);
    // An explicit content type means the body is already serialized (Kombu: no serializer runs).
    if (isBytes(body)) return { body, contentType, contentEncoding: contentEncoding ?? 'binary' };
    if (typeof body === 'string') {
      const encoding = contentEncoding ?? 'utf-8';
      if (!Buffer.isEncoding(encoding)) {
        throw new EncodeError(`Cannot encode a string body as '${encoding}'; use utf-8 or pass a Uint8Array`);
      }
      const buffer = Buffer.from(body, encoding);
      return { body: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), contentType, contentEncoding: encoding };
    }
    throw new EncodeError(
      `A body published with an explicit contentType ('${contentType}') must be a string or a Uint8Array, not ${typeof body}; drop contentType to serialize it`,
    );
  }

  /**
   * On a connection, ask for the default channel on every publish: the connection renews it after
   * a reconnect, and holding on to the old one would publish into a closed channel.
   */
  private async resolveChannel(): Promise<Channel> {
    if (!isConnectionLike(this.source)) return this.boundChannel ?? this.source;
    this.boundChannel = await this.source.defaultChannel();
    return this.boundChannel;
  }

  /** Declarations are cached per connection when there is one, else per channel. */
  private cacheOwner(channel: Channel): object {
    return isConnectionLike(this.source) ? this.source : channel;
  }
}

/**
 * `publish`'s outcome, or an AbortedError as soon as `signal` aborts. The publish itself goes
 * on: the message may be stored, and only the wait for its confirmation is abandoned.
 */
function abandonOnAbort(publish: Promise<PublishResult>, signal: AbortSignal): Promise<PublishResult> {
  return new Promise<PublishResult>((resolve, reject) => {
    const onAbort = (): void => {
      reject(new AbortedError('The publish was aborted while waiting for its confirmation; the message may be stored', { cause: signal.reason }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    publish.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** An option name zod would accept: a non-empty string, or absent. */
const isOptionalName = (value: unknown): boolean => value === undefined || (typeof value === 'string' && value.length > 0);

/**
 * Exactly `publishOptionsSchema.safeParse(pickValidated(options)).success`, by hand. The schema
 * has no defaults or transforms, so valid options are their own parse result.
 */
function validPublishOptions(options: PublishOptions): boolean {
  const { routingKey, priority, expiration, deliveryMode } = options;
  return (
    (routingKey === undefined || typeof routingKey === 'string') &&
    (priority === undefined || (Number.isInteger(priority) && priority >= 0 && priority <= 9)) &&
    (expiration === undefined || (typeof expiration === 'number' && Number.isFinite(expiration) && expiration >= 0)) &&
    (deliveryMode === undefined || deliveryMode === 1 || deliveryMode === 2 || deliveryMode === 'persistent' || deliveryMode === 'transient') &&
    isOptionalName(options.serializer) &&
    isOptionalName(options.compression) &&
    isOptionalName(options.contentType) &&
    isOptionalName(options.contentEncoding)
  );
}

function pickValidated(options: PublishOptions): Record<string, unknown> {
  const { routingKey, priority, expiration, deliveryMode, serializer, compression, contentType, contentEncoding } =
    options;
  return { routingKey, priority, expiration, deliveryMode, serializer, compression, contentType, contentEncoding };
}
