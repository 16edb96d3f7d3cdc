/**
 * One connection attempt at a time, shared by everyone who needs the connection.
 *
 * Many publishes fail together when a broker goes away; if each of them connected on its own,
 * a producer would make one attempt per failed publish (hundreds a second). Here callers join
 * the attempt in flight, or take the outcome of the last one when it is newer than what they
 * already saw (a refused connect settles in a millisecond, long before the other failed
 * publishes ask), and start one only otherwise. Each caller keeps its own retry policy (sleeps,
 * maxRetries, timeout) around the attempts it joins, so a caller with a short budget is never
 * held by one with an endless one.
 */
import { AbortedError, throwIfAborted } from './errors.js';

/** What one caller has seen: the id of the newest attempt whose outcome it already has. */
export interface AttemptTicket {
  seen: number;
}

interface Attempt {
  readonly id: number;
  readonly promise: Promise<void>;
  readonly controller: AbortController;
  waiters: number;
}

export class SharedAttempt {
  readonly #run: (signal: AbortSignal, id: number) => Promise<void>;
  #current: Attempt | undefined;
  #last: Attempt | undefined;
  #nextId = 0;

  /**
   * `run` makes one attempt (ids grow from 1); its signal aborts when every caller waiting for it
   * has given up.
   */
  constructor(run: (signal: AbortSignal, id: number) => Promise<void>) {
    this.#run = run;
  }

  /** The id of the newest attempt started (0 before the first): a ticket for "only newer ones". */
  get newestId(): number {
    return this.#nextId;
  }

  /** The attempt in flight, if any. */
  get inFlight(): Promise<void> | undefined {
    return this.#current?.promise;
  }

  /**
   * Waits for the attempt in flight; or takes the outcome of the last attempt if it is newer
   * than `ticket.seen`; or starts one. Updates `ticket.seen`. `signal` only stops this caller
   * waiting; the attempt itself is aborted once nobody waits for it any more.
   * @throws what the attempt threw; AbortedError when `signal` aborts first.
   */
  async join(ticket: AttemptTicket, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const last = this.#last;
    if (!this.#current && last && last.id > ticket.seen) {
      ticket.seen = last.id;
      return last.promise;
    }
    const attempt = this.#current ?? this.#start();
    ticket.seen = attempt.id;
    attempt.waiters++;
    let onAbort: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        attempt.promise.then(resolve, reject);
        if (signal) {
          onAbort = () => reject(new AbortedError('Connecting was aborted', { cause: signal.reason }));
          signal.addEventListener('abort', onAbort, { once: true });
        }
      });
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      attempt.waiters--;
      // Still current means it has not settled: nobody is left to use its result.
      if (attempt.waiters === 0 && this.#current === attempt) attempt.controller.abort(signal?.reason);
    }
  }

  #start(): Attempt {
    const controller = new AbortController();
    const id = ++this.#nextId;
    // Settled before any waiter resumes, so a caller retrying after it starts a new attempt.
    const promise = this.#run(controller.signal, id).finally(() => {
      if (this.#current === attempt) this.#current = undefined;
      this.#last = attempt;
    });
    // Everyone may have given up (aborted) before it settles; its rejection is then nobody's.
    promise.catch(() => undefined);
    const attempt: Attempt = { id, promise, controller, waiters: 0 };
    this.#current = attempt;
    return attempt;
  }
}
