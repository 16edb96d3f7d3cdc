/**
 * `Exchange`: a named router (direct, topic or fanout). On virtual transports its type lives only in
 * the declaring process (docs/wire-format.md#exchange-state), so every process that publishes to or
 * consumes from a topic or fanout exchange must declare it.
 */
import { z } from 'zod';
import { NotBoundError } from './errors.js';
import { OptionNames, parseOptions } from './option-parsing.js';
import type { Channel, ExchangeType } from './transport.js';

export type DeliveryModeOption = 1 | 2 | 'persistent' | 'transient';

export const deliveryModeSchema = z.union([z.literal(1), z.literal(2), z.literal('persistent'), z.literal('transient')]);

/** Kombu accepts the aliases `persistent` (2) and `transient` (1). */
export function resolveDeliveryMode(mode: DeliveryModeOption): 1 | 2 {
  if (mode === 'persistent') return 2;
  if (mode === 'transient') return 1;
  return mode;
}

const exchangeOptionsSchema = z.object({
  type: z.enum(['direct', 'topic', 'fanout']).default('direct'),
  durable: z.boolean().default(true),
  autoDelete: z.boolean().default(false),
  deliveryMode: deliveryModeSchema.optional(),
  arguments: z.record(z.string(), z.unknown()).optional(),
  /** Never declare this exchange (it is declared elsewhere). */
  noDeclare: z.boolean().default(false),
});

export interface ExchangeOptions {
  type?: ExchangeType;
  durable?: boolean;
  autoDelete?: boolean;
  /** Default delivery mode of messages published to this exchange. */
  deliveryMode?: DeliveryModeOption;
  arguments?: Record<string, unknown>;
  noDeclare?: boolean;
}

const EXCHANGE_OPTION_NAMES = OptionNames.of<ExchangeOptions>({
  type: true, durable: true, autoDelete: true, deliveryMode: true, arguments: true, noDeclare: true,
});

const DECLARE_OPTION_NAMES = OptionNames.of<{ passive?: boolean; channel?: Channel }>({ passive: true, channel: true });
const DELETE_OPTION_NAMES = OptionNames.of<{ ifUnused?: boolean; channel?: Channel }>({ ifUnused: true, channel: true });

export class Exchange {
  readonly name: string;
  readonly type: ExchangeType;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly deliveryMode: 1 | 2 | undefined;
  readonly arguments: Record<string, unknown> | undefined;
  readonly noDeclare: boolean;
  /** The channel this copy is bound to (see {@link bind}). */
  readonly channel: Channel | undefined;
  private readonly options: ExchangeOptions;

  constructor(name = '', options: ExchangeOptions = {}, channel?: Channel) {
    if (typeof name !== 'string') {
      throw new TypeError(`An exchange name must be a string, got ${typeof name}`);
    }
    const parsed = parseOptions(exchangeOptionsSchema, options, `Exchange '${name}'`, EXCHANGE_OPTION_NAMES);
    this.name = name;
    this.type = parsed.type;
    this.durable = parsed.durable;
    this.autoDelete = parsed.autoDelete;
    this.deliveryMode = parsed.deliveryMode === undefined ? undefined : resolveDeliveryMode(parsed.deliveryMode);
    this.arguments = parsed.arguments;
    this.noDeclare = parsed.noDeclare;
    this.channel = channel;
    this.options = options;
  }

  /** A copy of this exchange bound to `channel`. */
  bind(channel: Channel): Exchange {
    return new Exchange(this.name, this.options, channel);
  }

  get isBound(): boolean {
    return this.channel !== undefined;
  }

  /**
   * The default exchange ('') and `amq.*` exchanges are never declared
   * (docs/wire-format.md#exchange-state).
   */
  get canDeclare(): boolean {
    return !this.noDeclare && this.name !== '' && !this.name.startsWith('amq.');
  }

  /**
   * Auto-delete exchanges may vanish, so their declaration is never cached
   * (docs/wire-format.md#declarations).
   */
  get canCacheDeclaration(): boolean {
    return !this.autoDelete;
  }

  /** The `maybeDeclare` cache key (Kombu's `E|<name>`). */
  get cacheKey(): string {
    return `E|${this.name}`;
  }

  async declare(options: { passive?: boolean; channel?: Channel } = {}): Promise<void> {
    DECLARE_OPTION_NAMES.check(options, `Exchange '${this.name}' declare`);
    const channel = this.requireChannel(options.channel);
    if (!this.canDeclare) return;
    await channel.exchangeDeclare(this.name, {
      type: this.type,
      durable: this.durable,
      autoDelete: this.autoDelete,
      passive: options.passive ?? false,
      ...(this.arguments === undefined ? {} : { arguments: this.arguments }),
    });
  }

  async delete(options: { ifUnused?: boolean; channel?: Channel } = {}): Promise<void> {
    DELETE_OPTION_NAMES.check(options, `Exchange '${this.name}' delete`);
    const channel = this.requireChannel(options.channel);
    await channel.exchangeDelete(this.name, { ifUnused: options.ifUnused ?? false });
  }

  /** The channel to use: the one passed, else the bound one. */
  requireChannel(channel?: Channel): Channel {
    const resolved = channel ?? this.channel;
    if (!resolved) {
      throw new NotBoundError(
        `Exchange '${this.name}' is not bound to a channel; call exchange.bind(channel) or pass a channel`,
      );
    }
    return resolved;
  }

  toString(): string {
    return `Exchange ${this.name}(${this.type})`;
  }
}
