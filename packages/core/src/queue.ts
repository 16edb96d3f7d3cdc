/**
 * `Queue`: a named queue and how it is bound (one main exchange/routing key and/or a list of
 * {@link Binding}s). Declaring a queue also declares its exchanges and bindings, as Kombu does.
 */
import { z } from 'zod';
import type { Binding } from './binding.js';
import { NotBoundError } from './errors.js';
import { Exchange } from './exchange.js';
import { Message, type MessageOptions } from './message.js';
import { OptionNames, parseOptions } from './option-parsing.js';
import type { Channel, QueueDeclareOptions, QueueDeclareResult } from './transport.js';

const queueOptionsSchema = z.object({
  routingKey: z.string().default(''),
  durable: z.boolean().default(true),
  exclusive: z.boolean().default(false),
  autoDelete: z.boolean().default(false),
  maxPriority: z.number().int().min(0).max(255).optional(),
  noAck: z.boolean().default(false),
  queueArguments: z.record(z.string(), z.unknown()).optional(),
  bindingArguments: z.record(z.string(), z.unknown()).optional(),
});

export interface QueueOptions {
  /** The main exchange (default: the default exchange '', which routes by queue name). */
  exchange?: Exchange | string;
  routingKey?: string;
  /** Further bindings; when given and no `exchange` is, the queue has no main binding. */
  bindings?: readonly Binding[];
  durable?: boolean;
  /** Exclusive implies autoDelete (as in Kombu). */
  exclusive?: boolean;
  autoDelete?: boolean;
  maxPriority?: number;
  /** Consume this queue without acknowledgements. */
  noAck?: boolean;
  queueArguments?: Record<string, unknown>;
  bindingArguments?: Record<string, unknown>;
}

const QUEUE_OPTION_NAMES = OptionNames.of<QueueOptions>({
  exchange: true, routingKey: true, bindings: true, durable: true, exclusive: true, autoDelete: true, maxPriority: true,
  noAck: true, queueArguments: true, bindingArguments: true,
});

const CHANNEL_OPTION_NAMES = OptionNames.of<{ channel?: Channel }>({ channel: true });
const QUEUE_DECLARE_OPTION_NAMES = OptionNames.of<{ passive?: boolean; channel?: Channel }>({ passive: true, channel: true });
const BIND_OPTION_NAMES = OptionNames.of<{ arguments?: Record<string, unknown>; channel?: Channel }>({ arguments: true, channel: true });
const DELETE_OPTION_NAMES = OptionNames.of<{ ifUnused?: boolean; ifEmpty?: boolean; channel?: Channel }>({
  ifUnused: true, ifEmpty: true, channel: true,
});
const GET_OPTION_NAMES = OptionNames.of<QueueGetOptions>({
  noAck: true, accept: true, channel: true, serializers: true, compressors: true,
});

/** Options of {@link Queue.get}. */
type QueueGetOptions = { noAck?: boolean; accept?: readonly string[]; channel?: Channel } & Omit<MessageOptions, 'accept'>;

export class Queue {
  /** The queue name; an anonymous queue ('') takes the broker's name when declared. */
  name: string;
  readonly exchange: Exchange | undefined;
  readonly routingKey: string;
  readonly bindings: readonly Binding[];
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly maxPriority: number | undefined;
  readonly noAck: boolean;
  readonly queueArguments: Record<string, unknown> | undefined;
  readonly bindingArguments: Record<string, unknown> | undefined;
  readonly channel: Channel | undefined;
  private readonly options: QueueOptions;

  constructor(name = '', options: QueueOptions = {}, channel?: Channel) {
    if (typeof name !== 'string') throw new TypeError(`A queue name must be a string, got ${typeof name}`);
    QUEUE_OPTION_NAMES.check(options, `Queue '${name}'`);
    const parsed = parseOptions(queueOptionsSchema, stripEntities(options), `Queue '${name}'`);
    this.name = name;
    this.bindings = [...(options.bindings ?? [])];
    const exchange = typeof options.exchange === 'string' ? new Exchange(options.exchange) : options.exchange;
    this.exchange = exchange ?? (this.bindings.length > 0 ? undefined : new Exchange(''));
    this.routingKey = parsed.routingKey;
    this.durable = parsed.durable;
    this.exclusive = parsed.exclusive;
    this.autoDelete = parsed.autoDelete || parsed.exclusive;
    this.maxPriority = parsed.maxPriority;
    this.noAck = parsed.noAck;
    this.queueArguments = parsed.queueArguments;
    this.bindingArguments = parsed.bindingArguments;
    this.channel = channel;
    this.options = options;
  }

  /** A copy of this queue bound to `channel`. */
  bind(channel: Channel): Queue {
    return new Queue(this.name, this.options, channel);
  }

  get isBound(): boolean {
    return this.channel !== undefined;
  }

  /**
   * Auto-delete and expiring queues may vanish, so their declaration is never cached
   * (docs/wire-format.md#declarations).
   */
  get canCacheDeclaration(): boolean {
    return !this.autoDelete && this.queueArguments?.['x-expires'] === undefined;
  }

  /** The `maybeDeclare` cache key (Kombu's `Q|<name>`). */
  get cacheKey(): string {
    return `Q|${this.name}`;
  }

  /** Declares the exchange(s), the queue and its bindings; resolves with the queue name. */
  async declare(options: { channel?: Channel } = {}): Promise<string> {
    CHANNEL_OPTION_NAMES.check(options, `Queue '${this.name}' declare`);
    const channel = this.requireChannel(options.channel);
    if (this.exchange?.canDeclare) await this.exchange.declare({ channel });
    await this.queueDeclare({ channel });
    if (this.exchange && this.exchange.name !== '') {
      await channel.queueBind(this.name, this.exchange.name, this.routingKey, this.bindingArguments);
    }
    for (const binding of this.bindings) {
      if (binding.exchange.canDeclare) await binding.exchange.declare({ channel });
      await channel.queueBind(this.name, binding.exchange.name, binding.routingKey, binding.arguments);
    }
    return this.name;
  }

  /** Declares the queue alone. `passive` only checks that it exists (NotFoundError otherwise). */
  async queueDeclare(options: { passive?: boolean; channel?: Channel } = {}): Promise<QueueDeclareResult> {
    QUEUE_DECLARE_OPTION_NAMES.check(options, `Queue '${this.name}' queueDeclare`);
    const channel = this.requireChannel(options.channel);
    const declareOptions: QueueDeclareOptions = {
      passive: options.passive ?? false,
      durable: this.durable,
      exclusive: this.exclusive,
      autoDelete: this.autoDelete,
    };
    if (this.queueArguments !== undefined) declareOptions.arguments = this.queueArguments;
    if (this.maxPriority !== undefined) declareOptions.maxPriority = this.maxPriority;
    const result = await channel.queueDeclare(this.name, declareOptions);
    if (this.name === '') this.name = result.queue;
    return result;
  }

  async bindTo(
    exchange: Exchange | string,
    routingKey = '',
    options: { arguments?: Record<string, unknown>; channel?: Channel } = {},
  ): Promise<void> {
    BIND_OPTION_NAMES.check(options, `Queue '${this.name}' bindTo`);
    const channel = this.requireChannel(options.channel);
    await channel.queueBind(this.name, exchangeName(exchange), routingKey, options.arguments);
  }

  async unbindFrom(
    exchange: Exchange | string,
    routingKey = '',
    options: { arguments?: Record<string, unknown>; channel?: Channel } = {},
  ): Promise<void> {
    BIND_OPTION_NAMES.check(options, `Queue '${this.name}' unbindFrom`);
    const channel = this.requireChannel(options.channel);
    await channel.queueUnbind(this.name, exchangeName(exchange), routingKey, options.arguments);
  }

  /** Removes every waiting message; resolves with how many were removed. */
  async purge(options: { channel?: Channel } = {}): Promise<number> {
    CHANNEL_OPTION_NAMES.check(options, `Queue '${this.name}' purge`);
    return this.requireChannel(options.channel).queuePurge(this.name);
  }

  async delete(options: { ifUnused?: boolean; ifEmpty?: boolean; channel?: Channel } = {}): Promise<number> {
    DELETE_OPTION_NAMES.check(options, `Queue '${this.name}' delete`);
    return this.requireChannel(options.channel).queueDelete(this.name, {
      ifUnused: options.ifUnused ?? false,
      ifEmpty: options.ifEmpty ?? false,
    });
  }

  /** Takes one message without waiting (Kombu's `basic_get`); undefined when the queue is empty. */
  async get(options: QueueGetOptions = {}): Promise<Message | undefined> {
    GET_OPTION_NAMES.check(options, `Queue '${this.name}' get`);
    const channel = this.requireChannel(options.channel);
    const delivery = await channel.basicGet(this.name, { noAck: options.noAck ?? this.noAck });
    if (!delivery) return undefined;
    const messageOptions: MessageOptions = { accept: options.accept };
    if (options.serializers) messageOptions.serializers = options.serializers;
    if (options.compressors) messageOptions.compressors = options.compressors;
    return new Message(delivery, channel, messageOptions);
  }

  requireChannel(channel?: Channel): Channel {
    const resolved = channel ?? this.channel;
    if (!resolved) {
      throw new NotBoundError(
        `Queue '${this.name}' is not bound to a channel; call queue.bind(channel) or pass a channel`,
      );
    }
    return resolved;
  }

  toString(): string {
    return `Queue ${this.name} -> ${this.exchange ? this.exchange.name : '[bindings]'} -> ${this.routingKey}`;
  }
}

function exchangeName(exchange: Exchange | string): string {
  return typeof exchange === 'string' ? exchange : exchange.name;
}

/** zod validates the scalar options; entity objects are checked by the constructor itself. */
function stripEntities(options: QueueOptions): Omit<QueueOptions, 'exchange' | 'bindings'> {
  const { exchange: _exchange, bindings: _bindings, ...rest } = options;
  return rest;
}
