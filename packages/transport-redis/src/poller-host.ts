/** What a channel poller needs from its channel and transport, and its settings. */
import type { RedisKeys } from './keys.js';
import type { PollerLink } from './link-watch.js';
import type { PoppedEntry } from './scripts.js';

/** What the poller needs from its channel. */
export interface PollerHost {
  /** Non-fanout queues being consumed, in the cycle's order. */
  pollQueues(): readonly string[];
  /** How many more messages the channel may take now (QoS); Infinity when unlimited. */
  pollCapacity(): number;
  /** The channel's prefetch count (0 = unlimited): the pops in flight share it. */
  prefetchCount(): number;
  /** Record pops in `unacked` (ack emulation on and some consumer wants acks). */
  recordOnPop(): boolean;
  /** The pop's per-pair dead-letter flags for expired messages (scripts.ts expiredDeadLetterFlags). */
  expiredDeadLetterFlags(pairs: readonly (readonly [string, string])[]): string;
  /** PSUBSCRIBE patterns of the active fanout queues. */
  fanoutPatterns(): readonly string[];
  /** Changes whenever exchanges or bindings change (the patterns may then differ). */
  fanoutRevision(): number;
  /** Popped list messages, called from a hub reader. */
  onPopped(entries: readonly PoppedEntry[], recorded: boolean): void;
  /** Popped list messages not to deliver (taken after the hub stopped): back to their queues. */
  giveBack(entries: readonly PoppedEntry[], recorded: boolean): void;
  /**
   * A pub/sub message arrived while FANOUT_MEMORY_LIMIT messages already wait in memory: store it
   * in the queue's Redis list instead (which is popped like any list, under the QoS).
   */
  onFanoutOverflow(pattern: string, channel: string, payload: string): void;
  /** One pub/sub message, called from a hub reader. False = cannot take it now (QoS); retried later. */
  onFanout(pattern: string, channel: string, payload: string): boolean;
  /** A background failure (poll, subscribe, health check). */
  onError(error: Error): void;
  /** A connection was found dead (timeout, closed) and is being replaced. */
  onLinkLost(link: PollerLink, error: Error): void;
  /** That connection works again (a good poll, a subscriber set up again). */
  onLinkRestored(link: PollerLink): void;
  /** Interrupts the poll connection's blocking wait: CLIENT UNBLOCK <id> on another connection. */
  unblockPoll(clientId: string): void;
}

export interface ChannelPollerOptions {
  keys: RedisKeys;
  brpopTimeoutMs: number;
  /** Overrides the watchdog deadline of one poll round trip (socketTimeout). */
  commandTimeoutMs: number | undefined;
  /** How long a health-check PING may wait for its PONG before the link counts as dead. */
  healthTimeoutMs: number;
  batchSize: number;
  /** Wait with a blocking command when one list is consumed (see blocking-wait.ts). */
  blockingWait: boolean;
  /** Wake-ups by CLIENT TRACKING invalidations; false: the brpopTimeout timer alone. */
  clientTracking: boolean;
  /** The poll and subscriber connections find the master each by itself (sentinel://). */
  serversMayDiffer: boolean;
  /** Wall clock in seconds for unacked_index scores (Kombu uses time.time()). */
  wallClock: () => number;
}
