/**
 * Coalesces the acks of one tick into one `ack` script call. A consumer that acks a batch of
 * deliveries from one callback would otherwise send one EVALSHA per tag: auto-pipelining saves
 * the round trips but not the per-command client CPU nor the server's per-call cost. Every
 * caller gets the promise of the call that carries its tag, so a failed call fails each of
 * those acks (none is reported done before Redis has forgotten it).
 *
 * The call rides the channel's poll connection when it can (an `AckLane`): an ack frees a
 * prefetch slot, so the pop that fills the slot usually leaves in the same tick, and the two
 * then share one socket write and one reply read instead of a write and a read on each of two
 * connections. A consumer at prefetch 1 spends most of its CPU per message in those system calls.
 */
import type { Redis } from 'ioredis';
import { ackTags } from './scripts.js';
import { TickBatch } from './tick-batch.js';

/** Tags per `ack` script call: bounds how long one call holds the (single-threaded) server. */
const ACK_TAGS_PER_CALL = 5000;

/** A connection whose writes are held (corked) until the tick's acks are written too. */
export interface HeldWrite {
  /**
   * Runs `write` on the held connection and returns its promise, which also rejects should that
   * connection close before the reply; undefined (nothing written) when the connection cannot
   * take acks any more.
   */
  send<T>(write: (client: Redis) => Promise<T>): Promise<T> | undefined;
  /** Lets everything held leave in one write. Called once. */
  release(): void;
}

/** Another connection the acks may share a write with; `hold` returns undefined when it cannot now. */
export interface AckLane {
  hold(): HeldWrite | undefined;
}

export class AckCoalescer {
  private readonly batches: TickBatch<string>;
  private lane: AckLane | undefined;
  /** Whether this tick's batch has begun (its first ack took the hold). */
  private open = false;
  private held: HeldWrite | undefined;

  /** `afterSettle` runs a turn after each batch of acks was confirmed or refused. */
  constructor(
    private readonly client: Redis,
    private readonly unacked: string,
    private readonly unackedIndex: string,
    afterSettle?: () => void,
  ) {
    this.batches = new TickBatch(ACK_TAGS_PER_CALL, (tags) => this.send(tags), 'ack script call', afterSettle);
  }

  /** Where acks may ride from now on; undefined: the command connection only. */
  shareWritesWith(lane: AckLane | undefined): void {
    this.lane = lane;
  }

  ack(tags: readonly string[]): Promise<void> {
    if (!this.open) {
      this.open = true;
      this.held = this.lane?.hold();
    }
    return this.batches.add(tags);
  }

  /** Runs when the tick's batch is sent (synchronously, once per ACK_TAGS_PER_CALL tags). */
  private send(tags: string[]): Promise<number> {
    const held = this.held;
    this.held = undefined;
    this.open = false;
    try {
      const write = (client: Redis): Promise<number> => ackTags(client, this.unacked, this.unackedIndex, tags);
      return held?.send(write) ?? write(this.client);
    } finally {
      held?.release();
    }
  }
}
