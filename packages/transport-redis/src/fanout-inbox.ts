/**
 * Fanout messages that arrived on a channel's subscriber connection and wait for the hub reader
 * to hand them to the channel, in arrival order, as the QoS lets it take them.
 */
import type { PollerHost } from './poller-host.js';

/**
 * Pub/sub cannot be paused, so fanout messages that arrive while the prefetch is full wait in
 * memory. Past this many the rest spill into the fanout queue's own list in Redis: memory stays
 * bounded (a consumer that stops acking was seen growing to 700 MiB) and nothing is dropped.
 */
export const FANOUT_MEMORY_LIMIT = 1000;

type FanoutItem = { pattern: string; channel: string; payload: string };

export class FanoutInbox {
  private readonly items: FanoutItem[] = [];

  constructor(private readonly host: Pick<PollerHost, 'onFanout' | 'onFanoutOverflow'>) {}

  get size(): number {
    return this.items.length;
  }

  /** A pub/sub message arrived. False when it spilled to Redis (nothing new waits in memory). */
  receive(pattern: string, channel: string, payload: string): boolean {
    if (this.items.length >= FANOUT_MEMORY_LIMIT) {
      this.host.onFanoutOverflow(pattern, channel, payload);
      return false;
    }
    this.items.push({ pattern, channel, payload });
    return true;
  }

  /** Hands messages to the channel until it refuses one (prefetch full); the rest wait. */
  deliver(): void {
    while (this.items.length) {
      const item = this.items[0] as FanoutItem;
      if (!this.host.onFanout(item.pattern, item.channel, item.payload)) return;
      this.items.shift();
    }
  }
}
