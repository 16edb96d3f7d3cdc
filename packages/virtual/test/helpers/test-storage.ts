/**
 * A tiny in-test broker for the virtual layer: plain arrays and maps behind the storage hooks,
 * with switches for the optional hooks (getMany, putFanout) so both code paths get exercised.
 */
import type { QueueDeclareOptions, TransportCapabilities } from '@kelp/core';
import {
  type BindingRow,
  type ChannelHost,
  type GetOptions,
  type GetResult,
  markRedelivered,
  parseVirtualTransportOptions,
  readAckInfo,
  type RestoreOptions,
  type RestoreOutcome,
  type RouteResolver,
  VirtualChannel,
  VirtualTransport,
  type VirtualTransportOptionsInput,
} from '../../src/index.js';

export class TestStore {
  /** queue -> payloads, index 0 is consumed next (ignores priority: kept simple on purpose). */
  readonly queues = new Map<string, string[]>();
  readonly tables = new Map<string, BindingRow[]>();
  readonly unacked = new Map<string, [string, string, string]>();
  readonly dead: { queue: string; payload: string; reason: string }[] = [];
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

export class TestChannel extends VirtualChannel {
  constructor(
    host: ChannelHost,
    id: number,
    readonly store: TestStore,
    private readonly features: { getMany?: boolean; fanout?: boolean },
  ) {
    super(host, id);
    // Optional hooks are switched per test: an own `undefined` hides the prototype method.
    if (features.fanout) Object.assign(this, { supportsFanout: true });
    if (!features.getMany) Object.assign(this, { getMany: undefined });
  }

  protected async put(queue: string, json: string): Promise<void> {
    this.store.calls.push(`put ${queue}`);
    this.store.list(queue).push(json);
    this.host.wake();
  }

  protected override async putFanout(exchange: string, payload: string, routingKey: string): Promise<number> {
    this.store.fanout.push({ exchange, payload, routingKey });
    return this.store.fanoutSubscribers;
  }

  protected async get(queue: string, options: GetOptions): Promise<GetResult | undefined> {
    this.store.calls.push(`get ${queue}`);
    const payload = this.store.queues.get(queue)?.shift();
    if (payload === undefined) return undefined;
    const info = readAckInfo(payload);
    if (!options.noAck && info) this.store.unacked.set(info.deliveryTag, [payload, info.exchange, info.routingKey]);
    return { queue, payload };
  }

  protected override async getMany(queues: readonly string[], max: number, options: GetOptions): Promise<GetResult[]> {
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

  protected async purge(queue: string): Promise<number> {
    const n = this.store.queues.get(queue)?.length ?? 0;
    this.store.queues.set(queue, []);
    return n;
  }

  protected async size(queue: string): Promise<number> {
    return this.store.queues.get(queue)?.length ?? 0;
  }

  protected async deleteQueue(queue: string): Promise<void> {
    this.store.queues.delete(queue);
  }

  protected async hasQueue(queue: string): Promise<boolean> {
    return (this.store.queues.get(queue)?.length ?? 0) > 0;
  }

  protected async newQueue(_queue: string, _options: QueueDeclareOptions): Promise<void> {}

  protected async getTable(exchange: string): Promise<BindingRow[]> {
    return [...(this.store.tables.get(exchange) ?? [])];
  }

  protected async addBinding(exchange: string, row: BindingRow): Promise<void> {
    const rows = this.store.tables.get(exchange) ?? [];
    rows.push(row);
    this.store.tables.set(exchange, rows);
  }

  protected async removeBinding(exchange: string, row: BindingRow): Promise<void> {
    const rows = (this.store.tables.get(exchange) ?? []).filter(
      (r) => !(r.queue === row.queue && r.routingKey === row.routingKey && r.pattern === row.pattern),
    );
    this.store.tables.set(exchange, rows);
  }

  protected async ackUnacked(tags: readonly string[]): Promise<void> {
    for (const tag of tags) this.store.unacked.delete(tag);
  }

  protected async restoreUnacked(tag: string, options: RestoreOptions, resolve: RouteResolver): Promise<RestoreOutcome> {
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

  protected async recordUnacked(tag: string, json: string, exchange: string, routingKey: string): Promise<void> {
    this.store.unacked.set(tag, [json, exchange, routingKey]);
  }

  protected async deadLetter(queue: string, payload: string, reason: string): Promise<void> {
    this.store.dead.push({ queue, payload, reason });
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

  constructor(
    readonly store = new TestStore(),
    options: VirtualTransportOptionsInput = {},
    private readonly features: { getMany?: boolean; fanout?: boolean } = {},
  ) {
    super({ options: parseVirtualTransportOptions(options), virtualHost: 'testvh' });
  }

  protected async establish(): Promise<void> {}
  protected async teardown(): Promise<void> {}
  protected openChannel(id: number): TestChannel {
    return new TestChannel(this, id, this.store, this.features);
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
