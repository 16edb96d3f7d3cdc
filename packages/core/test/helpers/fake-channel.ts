/**
 * A tiny in-memory Channel for core's unit tests: it records every call and routes published
 * messages (default exchange by queue name, other exchanges by exact routing key) to a consumer of
 * the queue, or stores them for basicGet.
 */
import type {
  BasicConsumeOptions,
  BasicPublishOptions,
  Channel,
  ChannelState,
  Delivery,
  ExchangeDeclareOptions,
  OutboundMessage,
  PublishResult,
  QueueDeclareOptions,
  QueueDeclareResult,
} from '../../src/index.js';

export interface RecordedPublish {
  message: OutboundMessage;
  exchange: string;
  routingKey: string;
  /** Only when the publish passed options. */
  options?: BasicPublishOptions;
}

interface FakeConsumer {
  queue: string;
  options: BasicConsumeOptions;
}

let tagSeed = 0;

export function makeDelivery(overrides: Partial<Delivery> & { json?: unknown } = {}): Delivery {
  const { json, ...rest } = overrides;
  tagSeed += 1;
  return {
    body: new TextEncoder().encode(JSON.stringify(json ?? { n: tagSeed })),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {},
    properties: {},
    deliveryInfo: { exchange: '', routingKey: 'q', redelivered: false },
    deliveryTag: `tag-${tagSeed}`,
    noAck: false,
    ...rest,
  };
}

export class FakeChannel implements Channel {
  readonly channelId = 1;
  state: ChannelState = 'open';
  readonly published: RecordedPublish[] = [];
  readonly exchangesDeclared: Array<{ name: string; options: ExchangeDeclareOptions }> = [];
  readonly queuesDeclared: Array<{ name: string; options: QueueDeclareOptions | undefined }> = [];
  readonly binds: Array<{ queue: string; exchange: string; routingKey: string }> = [];
  readonly unbinds: Array<{ queue: string; exchange: string; routingKey: string }> = [];
  readonly acks: string[] = [];
  readonly rejects: Array<{ tag: string; requeue: boolean }> = [];
  readonly restores: string[][] = [];
  readonly cancels: string[] = [];
  readonly qos: number[] = [];
  readonly recovers: boolean[] = [];
  readonly consumers = new Map<string, FakeConsumer>();
  readonly stored = new Map<string, Delivery[]>();
  /** Set by a test to say which queues have dead-letter routing. */
  deadLetters?: (queue: string) => boolean;
  /** When set, the next ack/reject rejects with it. */
  failNext: Error | undefined;
  private nextConsumer = 0;

  async exchangeDeclare(name: string, options: ExchangeDeclareOptions): Promise<void> {
    this.exchangesDeclared.push({ name, options });
  }

  async exchangeDelete(): Promise<void> {}

  async queueDeclare(name: string, options?: QueueDeclareOptions): Promise<QueueDeclareResult> {
    const queue = name === '' ? `amq.gen-${this.queuesDeclared.length + 1}` : name;
    this.queuesDeclared.push({ name: queue, options });
    return { queue, messageCount: this.stored.get(queue)?.length ?? 0, consumerCount: 0 };
  }

  async queueBind(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.binds.push({ queue, exchange, routingKey });
  }

  async queueUnbind(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.unbinds.push({ queue, exchange, routingKey });
  }

  async queuePurge(queue: string): Promise<number> {
    const count = this.stored.get(queue)?.length ?? 0;
    this.stored.delete(queue);
    return count;
  }

  async queueDelete(queue: string): Promise<number> {
    return this.queuePurge(queue);
  }

  async basicPublish(message: OutboundMessage, exchange: string, routingKey: string, options?: BasicPublishOptions): Promise<PublishResult> {
    this.published.push({ message, exchange, routingKey, ...(options === undefined ? {} : { options }) });
    const queues =
      exchange === ''
        ? [routingKey]
        : this.binds.filter((b) => b.exchange === exchange && b.routingKey === routingKey).map((b) => b.queue);
    const deliveryTag = `pub-${this.published.length}`;
    for (const queue of queues) {
      const delivery: Delivery = {
        body: message.body,
        contentType: message.contentType,
        contentEncoding: message.contentEncoding,
        headers: message.headers,
        properties: message.properties,
        deliveryInfo: { exchange, routingKey, redelivered: false, queue },
        deliveryTag,
        noAck: false,
      };
      const list = this.stored.get(queue) ?? [];
      list.push(delivery);
      this.stored.set(queue, list);
      this.flush(queue);
    }
    return { status: queues.length > 0 ? 'routed' : 'unroutable', queues, deliveryTag };
  }

  async basicGet(queue: string, options?: { noAck?: boolean }): Promise<Delivery | undefined> {
    const delivery = this.stored.get(queue)?.shift();
    return delivery ? { ...delivery, noAck: options?.noAck ?? false } : undefined;
  }

  async basicConsume(queue: string, options: BasicConsumeOptions): Promise<string> {
    this.nextConsumer += 1;
    const tag = options.consumerTag ?? `ctag-${this.nextConsumer}`;
    this.consumers.set(tag, { queue, options });
    queueMicrotask(() => this.flush(queue));
    return tag;
  }

  async basicCancel(tag: string): Promise<void> {
    this.cancels.push(tag);
    this.consumers.delete(tag);
  }

  async basicAck(tag: string): Promise<void> {
    this.throwIfFailing();
    this.acks.push(tag);
  }

  async basicReject(tag: string, requeue: boolean): Promise<void> {
    this.throwIfFailing();
    this.rejects.push({ tag, requeue });
  }

  async basicRestore(tags: readonly string[]): Promise<void> {
    this.restores.push([...tags]);
  }

  async basicRecover(requeue?: boolean): Promise<void> {
    this.recovers.push(requeue ?? true);
  }

  async basicQos(prefetchCount: number): Promise<void> {
    this.qos.push(prefetchCount);
  }

  async close(): Promise<void> {
    this.state = 'closed';
  }

  /** Hands `delivery` straight to the consumer of `queue` (as a transport's poller would). */
  deliver(queue: string, delivery: Delivery): void {
    const consumer = [...this.consumers.values()].find((c) => c.queue === queue);
    if (!consumer) throw new Error(`no consumer for ${queue}`);
    consumer.options.onDelivery({ ...delivery, noAck: consumer.options.noAck ?? false });
  }

  private flush(queue: string): void {
    const consumer = [...this.consumers.values()].find((c) => c.queue === queue);
    const list = this.stored.get(queue);
    if (!consumer || !list) return;
    while (list.length > 0) {
      const delivery = list.shift() as Delivery;
      consumer.options.onDelivery({ ...delivery, noAck: consumer.options.noAck ?? false });
    }
  }

  private throwIfFailing(): void {
    const error = this.failNext;
    if (error) {
      this.failNext = undefined;
      throw error;
    }
  }
}

/** A FakeChannel with an optional visibility-timeout extension. */
export class VisibilityChannel extends FakeChannel {
  readonly extended: Array<{ tag: string; seconds: number }> = [];

  async extendVisibility(tag: string, seconds: number): Promise<void> {
    this.extended.push({ tag, seconds });
  }
}

/** A small seeded PRNG (mulberry32) for property-style tests without new dependencies. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Generates a JSON-compatible value (no undefined, finite numbers) of bounded depth. */
export function generateJsonValue(random: () => number, depth = 0): unknown {
  const pick = Math.floor(random() * (depth >= 3 ? 5 : 7));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return Math.floor(random() * 2 ** 40) - 2 ** 39;
    case 3:
      return Math.round(random() * 1e6) / 1e3;
    case 4: {
      const length = Math.floor(random() * 12);
      let text = '';
      for (let i = 0; i < length; i++) {
        // Mix ASCII, Latin-1, CJK and an astral character to exercise UTF-8 encoding.
        const pool = ['a', 'Z', ' ', '"', '\\', '\n', 'é', 'ß', '中', '😀', '\u0006'];
        text += pool[Math.floor(random() * pool.length)];
      }
      return text;
    }
    case 5: {
      const length = Math.floor(random() * 5);
      return Array.from({ length }, () => generateJsonValue(random, depth + 1));
    }
    default: {
      const out: Record<string, unknown> = {};
      const size = Math.floor(random() * 5);
      for (let i = 0; i < size; i++) out[`k${Math.floor(random() * 100)}`] = generateJsonValue(random, depth + 1);
      return out;
    }
  }
}

/** A FakeChannel with a dead-letter list, recording what was dead-lettered and why. */
export class DeadLetterChannel extends FakeChannel {
  readonly deadLettered: Array<{ tag: string; reason: string }> = [];

  async basicDeadLetter(tag: string, reason: string): Promise<void> {
    this.deadLettered.push({ tag, reason });
  }
}
