/**
 * A tiny in-test broker for the virtual layer: plain arrays and maps behind a ChannelStorage,
 * with switches for the optional capabilities (batched gets, fanout) so both code paths get
 * exercised.
 */
import type { QueueDeclareOptions, TransportCapabilities } from '@kelp/core';
import {
  type BatchGet,
  type BindingRow,
  type ChannelStorage,
  type FanoutPublish,
  type GetOptions,
  type GetResult,
  markRedelivered,
  parseVirtualTransportOptions,
  readAckInfo,
  type RestoreOptions,
  type RestoreOutcome,
  type RouteResolver,
  type UnackedStore,
  VirtualChannel,
  VirtualTransport,
  type VirtualTransportOptionsInput,
} from '../../src/index.js';

export class TestStore {
  /** queue -> payloads, index 0 is consumed next (ignores priority: kept simple on purpose). */
  readonly queues = new Map<string, string[]>();
  readonly tables = new Map<string, BindingRow[]>();
  readonly unacked = new Map<string, [string, string, string]>();
  /** Tag -> the queue `record` was told the delivery came from. */
  readonly recordedFrom = new Map<string, string | undefined>();
  readonly dead: { queue: string; payload: string; reason: string }[] = [];
  /** Dropped messages per `<queue> <reason>`. */
  readonly dropped = new Map<string, number>();
  readonly fanout: { exchange: string; payload: string; routingKey: string }[] = [];
  fanoutSubscribers = 1;
  readonly calls: string[] = [];

  list(queue: string): string[] {
    let list = this.queues.get(queue);
    if (!list) {
      list = [];
      this.queues.set(queue, list);
    }
    return list;
  }

  bodies(queue: string): string[] {
    return (this.queues.get(queue) ?? []).map((p) => Buffer.from(JSON.parse(p).body, 'base64').toString());
  }
}

/** Which optional capabilities a TestStorage offers, so both code paths get exercised. */
export interface TestFeatures {
  getMany?: boolean;
  fanout?: boolean;
}

export class TestStorage implements ChannelStorage {
  readonly unacked: UnackedStore;
  readonly fanout: FanoutPublish | undefined;
  readonly batchGet: BatchGet | undefined;

  constructor(
    readonly store: TestStore,
    private readonly wake: () => void = () => undefined,
    features: TestFeatures = {},
  ) {
    this.unacked = {
      record: async (tag, json, exchange, routingKey, queue) => {
        store.unacked.set(tag, [json, exchange, routingKey]);
        store.recordedFrom.set(tag, queue);
      },
      ack: async (tags) => {
        for (const tag of tags) store.unacked.delete(tag);
      },
      restore: (tag, options, resolve) => this.restore(tag, options, resolve),
    };
    this.fanout = features.fanout
      ? {
          putFanout: async (exchange, payload, routingKey) => {
            store.fanout.push({ exchange, payload, routingKey });
            return store.fanoutSubscribers;
          },
        }
      : undefined;
    this.batchGet = features.getMany ? { getMany: (queues, max, options) => this.getMany(queues, max, options) } : undefined;
  }

  async put(queue: string, json: string): Promise<void> {
    this.store.calls.push(`put ${queue}`);
    this.store.list(queue).push(json);
    this.wake();
  }

  async get(queue: string, options: GetOptions): Promise<GetResult | undefined> {
    this.store.calls.push(`get ${queue}`);
    const payload = this.store.queues.get(queue)?.shift();
    if (payload === undefined) return undefined;
    const info = readAckInfo(payload);
    if (!options.noAck && info) this.store.unacked.set(info.deliveryTag, [payload, info.exchange, info.routingKey]);
    return { queue, payload };
  }

  private async getMany(queues: readonly string[], max: number, options: GetOptions): Promise<GetResult[]> {
    this.store.calls.push(`getMany ${queues.join(',')} ${max}`);
    const out: GetResult[] = [];
    for (const queue of queues) {
      while (out.length < max) {
        const r = await this.get(queue, options);
        if (!r) break;
        out.push(r);
      }
    }
    return out;
  }

  async purge(queue: string): Promise<number> {
    const n = this.store.queues.get(queue)?.length ?? 0;
    this.store.queues.set(queue, []);
    return n;
  }

  async size(queue: string): Promise<number> {
    return this.store.queues.get(queue)?.length ?? 0;
  }

  async deleteQueue(queue: string): Promise<void> {
    this.store.queues.delete(queue);
  }

  async hasQueue(queue: string): Promise<boolean> {
    return (this.store.queues.get(queue)?.length ?? 0) > 0;
  }

  async newQueue(_queue: string, _options: QueueDeclareOptions): Promise<void> {}

  async getTable(exchange: string): Promise<BindingRow[]> {
    return [...(this.store.tables.get(exchange) ?? [])];
  }

  async addBinding(exchange: string, row: BindingRow): Promise<void> {
    const rows = this.store.tables.get(exchange) ?? [];
    rows.push(row);
    this.store.tables.set(exchange, rows);
  }

  async removeBinding(exchange: string, row: BindingRow): Promise<void> {
    const rows = (this.store.tables.get(exchange) ?? []).filter(
      (r) => !(r.queue === row.queue && r.routingKey === row.routingKey && r.pattern === row.pattern),
    );
    this.store.tables.set(exchange, rows);
  }

  async deadLetter(queue: string, payload: string, reason: string): Promise<void> {
    this.store.dead.push({ queue, payload, reason });
  }

  async countDropped(queue: string, reason: string): Promise<void> {
    const key = `${queue} ${reason}`;
    this.store.dropped.set(key, (this.store.dropped.get(key) ?? 0) + 1);
  }

  private async restore(tag: string, options: RestoreOptions, resolve: RouteResolver): Promise<RestoreOutcome> {
    const entry = this.store.unacked.get(tag);
    if (!entry) return { status: 'missing', deliveryTag: tag };
    this.store.unacked.delete(tag);
    const marked = markRedelivered(entry[0]);
    const queues = await resolve(entry[1], entry[2], marked);
    if (queues.length === 0) return { status: 'unroutable', deliveryTag: tag, envelope: marked, exchange: entry[1], routingKey: entry[2] };
    for (const queue of queues) {
      if (options.leftmost) this.store.list(queue).push(marked);
      else this.store.list(queue).unshift(marked);
    }
    return { status: 'restored', deliveryTag: tag, queues };
  }
}

export class TestTransport extends VirtualTransport {
  readonly driverName = 'test';
  readonly capabilities: TransportCapabilities = {
    exchangeTypes: ['direct', 'topic', 'fanout'],
    priority: false,
    visibilityTimeout: false,
    remote: false,
  };

  /** Builds each channel's storage; a test may wrap it (e.g. to gate restores). */
  storageFor: (transport: TestTransport) => ChannelStorage;
  constructor(
    readonly store = new TestStore(),
    options: VirtualTransportOptionsInput = {},
    features: TestFeatures = {},
  ) {
    super({ options: parseVirtualTransportOptions(options), virtualHost: 'testvh' });
    this.storageFor = (transport) => new TestStorage(store, () => transport.wake(), features);
  }

  protected async establish(): Promise<void> {}
  protected async teardown(): Promise<void> {}
  protected openChannel(id: number): VirtualChannel {
    return new VirtualChannel(this, id, this.storageFor(this));
  }

}

export function message(body: string, properties: Record<string, string | number> = {}) {
  return {
    body: new Uint8Array(Buffer.from(body)),
    contentType: 'text/plain',
    contentEncoding: 'utf-8',
    headers: {},
    properties,
  };
}

export function bodyOf(delivery: { body: Uint8Array } | undefined): string | undefined {
  return delivery === undefined ? undefined : Buffer.from(delivery.body).toString();
}
