/**
 * The consumers on each channel, so `Connection.close()` can stop them gracefully (hand back
 * prefetched messages, let callbacks in progress finish) before closing the channels under them.
 */
import type { Channel } from './transport.js';

/** What closing needs of a consumer (kelp's `Consumer` has it). */
export interface StoppableConsumer {
  cancel(options?: { timeout?: number }): Promise<void>;
}

const consumersByChannel = new WeakMap<Channel, Set<StoppableConsumer>>();

export function trackConsumer(channel: Channel, consumer: StoppableConsumer): void {
  let set = consumersByChannel.get(channel);
  if (!set) consumersByChannel.set(channel, (set = new Set()));
  set.add(consumer);
}

export function untrackConsumer(channel: Channel, consumer: StoppableConsumer): void {
  consumersByChannel.get(channel)?.delete(consumer);
}

/** The consumers consuming (or cancelled with a callback still running) on `channel`. */
export function consumersOn(channel: Channel): StoppableConsumer[] {
  return [...(consumersByChannel.get(channel) ?? [])];
}

/**
 * Cancels every consumer of `channels` at once, each waiting up to `timeout` seconds for its
 * callback in progress. A failing cancel must not keep the others (or the close) from going on.
 */
export async function stopConsumers(channels: Iterable<Channel>, timeout: number | undefined): Promise<void> {
  const consumers = [...channels].flatMap((channel) => consumersOn(channel));
  const options = timeout === undefined ? {} : { timeout };
  await Promise.all(consumers.map((consumer) => consumer.cancel(options).catch(() => undefined)));
}
