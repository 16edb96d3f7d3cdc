/**
 * The idle wait of a channel that consumes one queue: a blocking command that never takes data.
 *
 * Waiting on CLIENT TRACKING costs two hops from a publish to the message: the invalidation
 * reaches the subscriber connection, then the pop goes out and comes back. Here the poll
 * connection instead sends, in one socket write,
 *
 *     BLMOVE <list> <list> RIGHT RIGHT <timeout>      then      pop-and-record
 *
 * Redis runs a connection's commands in order, so the pop waits behind the BLMOVE and runs the
 * moment a push wakes it; both replies come back in the same write: one hop, close to a bare
 * BRPOP (docs/performance.md#costs-behind-the-design).
 *
 * Moving a list's tail onto its own tail changes nothing (same element, same order), so the
 * blocking command takes no message and a crash loses none (the pop-and-record script still takes
 * and records atomically, as everywhere else). BLMOVE names one source key, so this serves only a
 * channel consuming a single queue, and it blocks on that queue's step-0 list (where messages
 * without a priority go). A write to any other list (a priority sub-list: tracking is still armed
 * on those) or a change of the consumed queues interrupts the wait with CLIENT UNBLOCK from the
 * command connection, after which the pop runs at once.
 *
 * Costs, and why it can be turned off (`blockingWait: false`): a woken BLMOVE is a write, so each
 * idle consumer's wake-up is propagated to replicas and the AOF as one LMOVE, and it wakes every
 * other consumer blocked on the same list (each one's pop then finds the message gone, as with
 * tracking). Needs Redis >= 6.2 (BLMOVE) and the CLIENT command; otherwise the poller keeps the
 * timer fallback, and the first error reply turns this off for the connection's poller.
 */
import type { Redis } from 'ioredis';
import { isReplyError } from './errors.js';
import { inOneWrite } from './scripts.js';

export interface BlockingWaitHost {
  /** Sends CLIENT UNBLOCK <id> on another connection (the poll one is the one blocked). */
  unblock(clientId: string): void;
}

export class BlockingWait {
  /** The poll connection's client id, known once it is ready (needed to interrupt it). */
  private clientId: string | undefined;
  private supported = true;
  /** The list the blocking command in flight waits on. */
  private list: string | undefined;
  /** An UNBLOCK was already sent for the wait in flight. */
  private interrupted = false;

  constructor(
    private readonly pollClient: Redis,
    private readonly host: BlockingWaitHost,
    private readonly enabled: boolean,
  ) {
    if (!enabled) return;
    pollClient.on('ready', () => void this.learnClientId());
    pollClient.on('close', () => {
      this.clientId = undefined;
    });
  }

  private async learnClientId(): Promise<void> {
    try {
      this.clientId = String(await this.pollClient.client('ID'));
    } catch (error) {
      // A server or proxy that forbids CLIENT: without UNBLOCK a wait could not be cut short.
      if (isReplyError(error)) this.supported = false;
    }
  }

  /** Whether a blocking wait may be sent now. */
  get usable(): boolean {
    return this.enabled && this.supported && this.clientId !== undefined && this.pollClient.status === 'ready';
  }

  /** The list a wait in flight blocks on, or undefined. */
  get waitingOn(): string | undefined {
    return this.list;
  }

  /**
   * Writes the blocking command and `pop` in one socket write (corked while both are queued) and
   * resolves with the pop's reply, which says what was taken: the BLMOVE's own reply is not
   * needed. An error reply to it (no BLMOVE before Redis 6.2, a list holding another type) turns
   * blocking waits off; the pop behind it runs anyway.
   */
  waitThenPop(list: string, timeoutSeconds: number, pop: () => Promise<unknown>): Promise<unknown> {
    this.list = list;
    this.interrupted = false;
    return inOneWrite(this.pollClient, () => {
      this.pollClient.call('BLMOVE', list, list, 'RIGHT', 'RIGHT', Math.max(0.001, timeoutSeconds).toFixed(3)).catch((error: unknown) => {
        if (isReplyError(error)) this.supported = false;
      });
      return pop();
    });
  }

  /** The pop that followed the wait replied (or failed): nothing is blocked any more. */
  finished(): void {
    this.list = undefined;
  }

  /** Cuts the wait in flight short (once); the pop behind it then runs at once. */
  interrupt(): void {
    if (this.list === undefined || this.interrupted || this.clientId === undefined) return;
    this.interrupted = true;
    this.host.unblock(this.clientId);
  }
}
