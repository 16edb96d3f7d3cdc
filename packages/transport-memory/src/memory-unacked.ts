/**
 * The unacked records of a memory broker: Redis's `unacked` hash (tag -> envelope, exchange,
 * routing key) and `unacked_index` (tag -> delivery time) as one Map. A delivery is recorded
 * under the tag read from the envelope's text; its route is read when a restore or the admin
 * first asks for it.
 */
import { readAckInfo, readDeliveryTag } from '@kelp/virtual';

/** One unacked message: the Redis `unacked` hash value and its `unacked_index` score. */
export interface MemoryUnackedEntry {
  envelope: string;
  exchange: string;
  routingKey: string;
  /** Delivery time in seconds; restored once older than the visibility timeout. */
  deliveredAt: number;
}

export interface UnackedRecord {
  envelope: string;
  deliveredAt: number;
  route?: { exchange: string; routingKey: string };
}

/** The record's exchange and routing key, read from its envelope the first time. */
export function routeOf(record: UnackedRecord): { exchange: string; routingKey: string } {
  if (record.route === undefined) {
    const info = readAckInfo(record.envelope);
    record.route = { exchange: info?.exchange ?? '', routingKey: info?.routingKey ?? '' };
  }
  return record.route;
}

function toEntry(record: UnackedRecord): MemoryUnackedEntry {
  return { envelope: record.envelope, ...routeOf(record), deliveredAt: record.deliveredAt };
}

export class MemoryUnackedRecords {
  private readonly records = new Map<string, UnackedRecord>();

  /** `now`: wall-clock seconds, as the broker's. */
  constructor(private readonly now: () => number) {}

  /**
   * Records a message just taken from a queue; returns its tag, or undefined when it has
   * none (the channel dead-letters it). A record already held under the tag read from the text is
   * another delivery's (or another copy of this message's): the tag is read in full before writing
   * over it, so a malformed envelope naming someone else's tag cannot take that record away.
   */
  recordTaken(payload: string): string | undefined {
    let tag = readDeliveryTag(payload);
    if (tag !== undefined && this.records.has(tag)) tag = readAckInfo(payload)?.deliveryTag;
    if (tag !== undefined) this.records.set(tag, { envelope: payload, deliveredAt: this.now() });
    return tag;
  }

  record(tag: string, envelope: string, exchange: string, routingKey: string): void {
    this.records.set(tag, { envelope, deliveredAt: this.now(), route: { exchange, routingKey } });
  }

  ack(tags: readonly string[]): void {
    for (const tag of tags) this.records.delete(tag);
  }

  /** Takes the record of `tag` away (a restore or a dead-lettering); `putBack` returns it. */
  remove(tag: string): UnackedRecord | undefined {
    const record = this.records.get(tag);
    if (record) this.records.delete(tag);
    return record;
  }

  putBack(tag: string, record: UnackedRecord): void {
    this.records.set(tag, record);
  }

  /** Moves the delivery time so the record stays invisible for `seconds` more under `visibilityTimeout`. */
  extend(tag: string, seconds: number, visibilityTimeout: number): void {
    const record = this.records.get(tag);
    if (record) record.deliveredAt = Math.max(record.deliveredAt, this.now() + seconds - visibilityTimeout);
  }

  /** Tags delivered more than `visibilityTimeout` seconds ago, newest first (ZREVRANGEBYSCORE). */
  olderThan(visibilityTimeout: number): string[] {
    const ceiling = this.now() - visibilityTimeout;
    return [...this.records]
      .filter(([, record]) => record.deliveredAt <= ceiling)
      .sort(([, a], [, b]) => b.deliveredAt - a.deliveredAt)
      .map(([tag]) => tag);
  }

  entry(tag: string): MemoryUnackedEntry | undefined {
    const record = this.records.get(tag);
    return record && toEntry(record);
  }

  entries(): Array<[string, MemoryUnackedEntry]> {
    return [...this.records].map(([tag, record]) => [tag, toEntry(record)]);
  }

  get size(): number {
    return this.records.size;
  }
}
