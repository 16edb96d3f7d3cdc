/**
 * `ConsumeBridge`: hands what a channel's poller took from Redis (popped list entries, pub/sub
 * messages) to its `VirtualChannel`, and gives back what the channel cannot take. The Redis half
 * of Kombu's `_deliver`: the channel decides, this only translates keys and patterns to queues.
 */
import { type BrokerState, readAckInfo, type VirtualChannel } from '@kelp/virtual';
import type { RedisKeys } from './keys.js';
import { mayNotBeStoredBytes, type RedisStorage } from './redis-storage.js';
import type { PoppedEntry } from './scripts.js';

export interface ConsumeBridgeContext {
  readonly channel: VirtualChannel;
  readonly storage: RedisStorage;
  readonly keys: RedisKeys;
  readonly brokerState: BrokerState;
  reportDeadLettered(info: { queue: string; reason: string }): void;
  reportError(error: unknown): void;
}

export class ConsumeBridge {
  constructor(private readonly ctx: ConsumeBridgeContext) {}

  /** Delivers what the poller popped (already recorded when ack emulation is on). */
  deliverPopped(entries: readonly PoppedEntry[], recorded: boolean): void {
    const { channel, storage } = this.ctx;
    for (const entry of entries) {
      const queue = storage.queueOfKey(entry.key);
      if (entry.kind === 'dead') {
        this.ctx.reportDeadLettered({ queue, reason: entry.reason });
        continue;
      }
      if (entry.kind === 'expired') {
        channel.expiry.report({ queue, deadLettered: entry.deadLettered });
        continue;
      }
      channel.cycle.rotate(queue);
      if (recorded && mayNotBeStoredBytes(entry.payload)) {
        this.deliverIfStoredAsText(queue, entry).catch((error: unknown) => this.ctx.reportError(error));
        continue;
      }
      channel
        .handleIncoming(queue, entry.payload, { recorded, deliveryTag: entry.deliveryTag })
        .catch((error: unknown) => this.ctx.reportError(error));
    }
  }

  /**
   * Popped list messages the channel will not deliver now (a blocking wait's pop that ran after
   * the hub stopped): back to the heads of their queues, in order, and out of unacked.
   */
  giveBackPopped(entries: readonly PoppedEntry[], recorded: boolean): void {
    for (const entry of entries) {
      const queue = this.ctx.storage.queueOfKey(entry.key);
      if (entry.kind === 'dead') this.ctx.reportDeadLettered({ queue, reason: entry.reason });
      else if (entry.kind === 'expired') this.ctx.channel.expiry.report({ queue, deadLettered: entry.deadLettered });
      else void this.ctx.channel.requeueUndeliverable({ queue, payload: entry.payload, recorded, deliveryTag: entry.deliveryTag });
    }
  }

  /**
   * Stores a fanout message the poller could not keep in memory in the queue's list (its priority
   * sub-list), where the normal pops deliver it. A payload that is not an envelope goes to step 0
   * and is dead-lettered by the pop like any malformed list entry.
   */
  async spillFanout(queue: string, payload: string): Promise<void> {
    await this.ctx.storage.put(queue, payload, readAckInfo(payload)?.priority ?? 0);
  }

  /** PSUBSCRIBE pattern -> the channel's consumed queues it feeds (queues bound to fanout exchanges). */
  fanoutPatternMap(): Map<string, string[]> {
    const { brokerState, keys } = this.ctx;
    const map = new Map<string, string[]>();
    for (const queue of this.ctx.channel.consumedQueues) {
      for (const b of brokerState.queueBindings(queue)) {
        if (brokerState.typeOf(b.exchange) !== 'fanout') continue;
        const pattern = keys.fanoutPattern(b.exchange, b.routingKey);
        const list = map.get(pattern) ?? [];
        if (!list.includes(queue)) list.push(queue);
        map.set(pattern, list);
      }
    }
    return map;
  }

  private async deliverIfStoredAsText(queue: string, entry: PoppedEntry & { kind: 'message' }): Promise<void> {
    if (await this.ctx.storage.storedAsText(queue, entry)) {
      await this.ctx.channel.handleIncoming(queue, entry.payload, { recorded: true, deliveryTag: entry.deliveryTag });
    }
  }
}
