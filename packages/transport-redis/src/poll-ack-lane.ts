/**
 * The poll connection as the lane a channel's acks ride (see AckCoalescer): a tick's first ack
 * corks the poll socket, so the acks sent at the tick's end leave in one write with the pop
 * the freed slots start meanwhile. The poll connection does not follow each command it writes
 * (FailFastRedis), so the lane fails an ack itself should the socket close before the reply.
 */
import type { Redis } from 'ioredis';
import type { AckLane } from './ack-coalescer.js';
import { FailOnClose, UNANSWERED_MESSAGE } from './connections.js';
import { guardClient, wrapRedisError } from './errors.js';

/** What the lane needs from the channel's poller. */
export interface PollLaneSource {
  readonly pollClient: Redis;
  /** Whether the poll connection can carry acks now: open, ready, no blocking wait on it. */
  readonly acceptsAcks: boolean;
}

export function pollAckLane(poller: PollLaneSource, redactedUrl: string): AckLane {
  const { pollClient } = poller;
  const carrier = guardClient(pollClient, redactedUrl);
  const unanswered = new FailOnClose(pollClient, () => wrapRedisError(new Error(UNANSWERED_MESSAGE), redactedUrl, 'ack'));
  return {
    hold: () => {
      if (!poller.acceptsAcks) return undefined;
      const stream = pollClient.stream as { cork?(): void; uncork?(): void } | undefined;
      if (!stream?.cork || !stream.uncork) return undefined;
      stream.cork();
      let held = true;
      return {
        // Checked again at send time: a blocking wait or a reconnect may have come since.
        send: (write) => (poller.acceptsAcks && pollClient.stream === stream ? unanswered.watch(write(carrier)) : undefined),
        release: () => {
          if (!held) return;
          held = false;
          stream.uncork?.();
        },
      };
    },
  };
}
