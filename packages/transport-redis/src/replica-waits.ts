/**
 * `ReplicaWaits`: Redis `WAIT` for confirmed publishes, one per transport (on its confirm
 * connection, see ConfirmConnection) at a time. WAIT answers for every write its connection made before it, so one WAIT
 * sent after a batch of publishes was answered confirms all of them: the confirmed publishes
 * answered meanwhile share a WAIT for the largest replica count and the longest timeout among
 * them, and each is judged against its own count by the caller (ChannelPublisher).
 *
 * One WAIT at a time: a WAIT holds the connection (Redis blocks the client), and a second one sent
 * while it waits would only queue behind it, adding its own timeout to the confirmed publishes
 * behind both while a replica is missing. Requests that come in meanwhile share the next one.
 */
import { OperationalError } from '@kelp/core';
import type { Redis } from 'ioredis';

/** One confirmed publish waiting for a WAIT. */
interface WaitRequest {
  replicas: number;
  timeoutMs: number;
  /** The socket that carried the write's reply: a WAIT on any other covers none of its writes. */
  socket: unknown;
  resolve: (acknowledged: number) => void;
  reject: (error: unknown) => void;
}

export interface ReplicaWaitsContext {
  /** The connection that carries the writes to confirm. */
  client(): Redis;
  /** Seconds a WAIT may block before the connection's own command timeout fails it. */
  readonly maxTimeout: number;
  /** Wraps a driver error into a kelp error. */
  wrapError(error: unknown): Error;
  /** A WAIT was sent that may hold the connection until `untilMs` (Date.now() clock). */
  blockedUntil(untilMs: number): void;
}

export class ReplicaWaits {
  readonly maxTimeout: number;
  private pending: WaitRequest[] = [];
  private waiting = false;
  private scheduled = false;

  constructor(private readonly ctx: ReplicaWaitsContext) {
    this.maxTimeout = ctx.maxTimeout;
  }

  /**
   * Called once the writes to confirm were answered, so the WAIT, sent later on the same
   * connection, comes after them.
   */
  waitForReplicas(replicas: number, timeout: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const socket = this.ctx.client().stream;
      this.pending.push({ replicas, timeoutMs: Math.ceil(timeout * 1000), socket, resolve, reject });
      this.schedule();
    });
  }

  /** nextTick: every publish answered by the same reply (a PushBatcher call) joins the same WAIT. */
  private schedule(): void {
    if (this.scheduled || this.waiting || this.pending.length === 0) return;
    this.scheduled = true;
    process.nextTick(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const requests = this.pending;
    this.pending = [];
    let client: Redis;
    try {
      client = this.ctx.client();
    } catch (error) {
      // The transport closed meanwhile.
      for (const request of requests) request.reject(error);
      return;
    }
    let replicas = 0;
    let timeoutMs = 0;
    const sharing: WaitRequest[] = [];
    for (const request of requests) {
      // Only on the socket that answered the write, and only while it is ready: ioredis would
      // otherwise queue the WAIT and send it after a reconnect, where it answers for a
      // connection that made none of these writes.
      if (client.status !== 'ready' || client.stream !== request.socket) {
        request.reject(new OperationalError('the redis confirm connection was lost after the publish was stored; it is not known to be replicated'));
        continue;
      }
      replicas = Math.max(replicas, request.replicas);
      timeoutMs = Math.max(timeoutMs, request.timeoutMs);
      sharing.push(request);
    }
    if (sharing.length === 0) return;
    this.waiting = true;
    this.ctx.blockedUntil(Date.now() + timeoutMs);
    client
      .wait(replicas, timeoutMs)
      .then(
        (acknowledged) => {
          for (const request of sharing) request.resolve(acknowledged);
        },
        (error: unknown) => {
          const wrapped = this.ctx.wrapError(error);
          for (const request of sharing) request.reject(wrapped);
        },
      )
      .finally(() => {
        this.waiting = false;
        this.schedule();
      });
  }
}
