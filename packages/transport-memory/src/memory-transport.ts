/**
 * `MemoryTransport` and the `memory://` transport definition. The definition object owns the map
 * of named brokers, so two Connections to `memory://` made from one definition share a broker
 * while two definitions (or two test files) never see each other's messages.
 */
import type { ConnectionParams, TransportCapabilities, TransportDefinition } from '@kelp/core';
import {
  VirtualAdmin,
  VirtualChannel,
  VirtualTransport,
  type VirtualTransportOptions,
  parseVirtualTransportOptions,
  virtualTransportOptionsSchema,
} from '@kelp/virtual';
import { memoryAdminStorage } from './memory-admin.js';
import { MemoryBroker } from './memory-broker.js';
import { MemoryStorage } from './memory-storage.js';

/**
 * Every transport option name (camelCase) `memory://` accepts: the virtual transport's, the
 * `maxBodySize` alias of maxMessageBytes, Redis's `batchSize` as an alias of pollBatchSize, and
 * Kombu virtual-transport options it has no use for
 * (`pollingInterval`: delivery is event-driven; `bodyEncoding`: always base64). Others are errors.
 */
export const MEMORY_OPTION_NAMES: readonly string[] = [
  ...Object.keys(virtualTransportOptionsSchema.shape),
  'maxBodySize',
  'batchSize',
  'pollingInterval',
  'bodyEncoding',
];

export interface MemoryTransportInit {
  broker: MemoryBroker;
  options: VirtualTransportOptions;
}

const CAPABILITIES: TransportCapabilities = Object.freeze({
  exchangeTypes: Object.freeze(['direct', 'topic', 'fanout'] as const),
  priority: true,
  visibilityTimeout: true,
  remote: false,
});

export class MemoryTransport extends VirtualTransport {
  readonly driverName = 'memory';
  readonly capabilities = CAPABILITIES;
  readonly broker: MemoryBroker;
  private unsubscribe: (() => void) | undefined;
  private adminTools: VirtualAdmin | undefined;

  /** inspect / restore / dead letters on this broker. */
  get admin(): VirtualAdmin {
    this.adminTools ??= new VirtualAdmin(memoryAdminStorage({ broker: this.broker, visibilityTimeout: this.options.visibilityTimeout }));
    return this.adminTools;
  }

  constructor(init: MemoryTransportInit) {
    // Exchange declarations live on the broker so every connection to it routes alike.
    super({ options: init.options, brokerState: init.broker.state, virtualHost: init.broker.name });
    this.broker = init.broker;
  }

  protected async establish(): Promise<void> {
    this.unsubscribe ??= this.broker.subscribe(() => this.wake());
  }

  protected async teardown(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  protected openChannel(channelId: number): VirtualChannel {
    return new VirtualChannel(this, channelId, new MemoryStorage(this.broker, this.options.visibilityTimeout));
  }
}

/** The `memory://` registry entry plus access to its brokers (for tests and tools). */
export interface MemoryTransportDefinition extends TransportDefinition {
  /** Brokers by name, created on first use. */
  readonly brokers: ReadonlyMap<string, MemoryBroker>;
  /** The broker called `name`, created with `options` if it does not exist yet. */
  broker(name?: string, options?: { prioritySteps?: readonly number[]; now?: () => number }): MemoryBroker;
  create(params: ConnectionParams): MemoryTransport;
}

/** Creates the `memory://` transport definition (aliases `memory`). */
export function createMemoryTransport(): MemoryTransportDefinition {
  const brokers = new Map<string, MemoryBroker>();
  const broker = (name = 'default', options: { prioritySteps?: readonly number[]; now?: () => number } = {}) => {
    let found = brokers.get(name);
    if (!found) {
      found = new MemoryBroker({ name, ...options });
      brokers.set(name, found);
    }
    return found;
  };
  return {
    aliases: ['memory'],
    optionNames: MEMORY_OPTION_NAMES,
    brokers,
    broker,
    create(params: ConnectionParams): MemoryTransport {
      const { batchSize, ...rest } = params.transportOptions;
      // `batchSize` is the Redis transport's name for pollBatchSize: accepted as its alias, so one
      // options object serves both transports (pollBatchSize wins when both are given).
      const options = parseVirtualTransportOptions(batchSize === undefined ? rest : { pollBatchSize: batchSize, ...rest });
      return new MemoryTransport({ broker: broker(params.virtualHost || 'default', { prioritySteps: options.prioritySteps }), options });
    },
  };
}
