/**
 * Creates the ioredis clients of a transport. Roles (design.md "Connections to Redis"):
 * - `command`: one per transport, shared by every channel, with auto-pipelining so the
 *   publishes and acks of one tick leave in one write;
 * - `poll`: one per consuming channel, carries only that channel's pops (never blocked behind
 *   publishes, never blocking them);
 * - `subscriber`: one per consuming channel, in pub/sub mode for fanout and for the
 *   client-tracking invalidations that wake the poller;
 * - `confirm`: one per transport, opened by its first confirmed publish, carries the writes of
 *   confirmed publishes and their WAITs (Redis blocks the client that sends WAIT: on the command
 *   connection it would hold up every publish and ack behind it).
 */
import { Redis, type Command, type RedisOptions } from 'ioredis';
import { RecycleCounter } from '@kelp/virtual/internal';
import { defineScripts } from './scripts.js';

/**
 * The command and confirm connections' command timeout when socketTimeout is unset. The only
 * command there that blocks is a confirmed publish's WAIT, whose own timeout must stay below this.
 */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

export type ConnectionRole = 'command' | 'confirm' | 'poll' | 'subscriber';

/** The connections that carry publishes: every command they write is followed until it settles. */
const isWriteRole = (role: ConnectionRole): boolean => role === 'command' || role === 'confirm';

/** The rejection of a command whose socket closed before its reply (isRedisConnectionError matches it). */
export const UNANSWERED_MESSAGE = 'Socket closed unexpectedly before Redis replied; the command may or may not have run';

/**
 * Fails the promises it watches should the client's socket close before they settle: for
 * commands sent on a connection that does not follow each command it writes (see
 * FailFastRedis). One 'close' listener for all of them, however many are in flight.
 */
export class FailOnClose {
  private readonly pending = new Set<(error: Error) => void>();

  constructor(
    client: Pick<Redis, 'on'>,
    private readonly error: () => Error,
  ) {
    client.on('close', () => this.failAll());
  }

  watch<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (error: Error): void => reject(error);
      this.pending.add(fail);
      void promise.then(resolve, reject).finally(() => this.pending.delete(fail));
    });
  }

  /** Promises watched and not settled yet. */
  get size(): number {
    return this.pending.size;
  }

  private failAll(): void {
    if (this.pending.size === 0) return;
    const error = this.error();
    for (const fail of this.pending) fail(error);
    this.pending.clear();
  }
}

/**
 * An ioredis client that fails the commands it has written, but not heard back about, as soon as
 * its socket closes. ioredis would keep them aside to resend after a reconnect, and drops that
 * list when a reconnect attempt reaches a socket that then closes (a proxy or load balancer in
 * front of a dead server); the caller then waits for the command timeout (30 s) to learn
 * anything. Failing at once hands the decision to kelp's retry policy (Connection.ensure), which
 * knows what is safe to resend; a blind resend of a push whose reply was lost would also publish
 * the message twice, so `autoResendUnfulfilledCommands` is off.
 */
class FailFastRedis extends Redis {
  /** Unsettled commands written while ready; only kept when each command is tracked. */
  #unanswered: Set<Command> | undefined;
  readonly #recycle = new RecycleCounter();
  #everReady = false;

  /**
   * `trackEachCommand` (the command and confirm connections: publishes and acks) follows every
   * written command until it settles. The poll and subscriber connections only read ioredis's own queue
   * of written, unanswered commands when the socket closes: following each pop in a Set kept its
   * reply alive long enough for V8 to promote it to the old generation (~3.6 MB per scavenge in a
   * drain, where reading the queue costs nothing per command). The queue read is not used for
   * the connections that publish because the client-kill fault test saw a publish escape it (2 runs in
   * 5 under load; 0 in 5 with the Set), which a pop, watched by the poller's own deadline, survives.
   */
  constructor(options: RedisOptions, trackEachCommand: boolean) {
    super({ ...options, autoResendUnfulfilledCommands: false });
    this.#unanswered = trackEachCommand ? new Set<Command>() : undefined;
    this.once('ready', () => (this.#everReady = true));
    this.on('close', () => {
      const error = new Error(UNANSWERED_MESSAGE);
      if (this.#unanswered) {
        for (const command of this.#unanswered) command.reject(error);
        this.#unanswered.clear();
      } else {
        // Emitted on the tick after the socket closed, before any reconnect replaces the queue.
        for (const item of this.commandQueue.toArray()) item.command.reject(error);
      }
    });
  }

  /** Reached a server once (then reconnects go on until they succeed, see sentinelRetry). */
  get everReady(): boolean {
    return this.#everReady;
  }

  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
    if (!this.#unanswered) return super.sendCommand(command, stream);
    // Only a command written now (status ready) is at risk; an offline-queued one is written, or
    // failed by maxRetriesPerRequest, later, and comes back through here when it is written.
    const written = this.status === 'ready';
    const result = super.sendCommand(command, stream);
    if (written && !this.#unanswered.has(command)) {
      this.#unanswered.add(command);
      const forget = (): void => this.#forget(command);
      command.promise.then(forget, forget);
    }
    return result;
  }

  /** The Set is copied every so many settled commands: see RecycleCounter for why. */
  #forget(command: Command): void {
    const unanswered = this.#unanswered;
    if (!unanswered?.delete(command)) return;
    if (this.#recycle.removed()) this.#unanswered = new Set(unanswered);
  }
}

export interface ClientFactoryOptions {
  base: RedisOptions;
  /** Receives ioredis 'error' events (ioredis prints them to the console when nobody listens). */
  onError: (error: Error, role: ConnectionRole) => void;
}

export function createClient(role: ConnectionRole, options: ClientFactoryOptions): Redis {
  const clientOptions: RedisOptions = {
    ...options.base,
    lazyConnect: true,
    connectionName: `kelp-${role}`,
    enableAutoPipelining: role === 'command',
    // These calls already carry a whole tick's acks/pushes (AckCoalescer, PushBatcher): wrapping
    // each in an auto-pipeline would only add a Pipeline object per call.
    // WAIT must be written at once or not at all: from an auto-pipeline flushed after a reconnect
    // it would answer for a connection that made none of the writes it is meant to confirm.
    autoPipeliningIgnoredCommands: ['kelpAck', 'kelpRouteAndPush', 'wait'],
    // Subscriptions are replayed by the channel poller itself, after it has read the client id
    // that CLIENT TRACKING must redirect to (a subscribed RESP2 connection cannot run CLIENT ID).
    autoResubscribe: role !== 'subscriber',
    // Poll commands are re-issued by the poller; queued retries would double-pop after a reconnect.
    ...(role === 'poll' ? { maxRetriesPerRequest: 0 } : {}),
    // Without socketTimeout a publish or ack on a half-open link (no FIN, no RST) would wait
    // forever; bounded, it rejects with an OperationalError that ensure() can retry elsewhere.
    ...(isWriteRole(role) ? { commandTimeout: options.base.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS } : {}),
  };
  // Called only while connecting, by which time `client` is set.
  if (locatesMaster(clientOptions)) clientOptions.sentinelRetryStrategy = sentinelRetry(role, () => client.everReady);
  const client = new FailFastRedis(clientOptions, isWriteRole(role));
  if (clientOptions.commandTimeout !== undefined) keepTimerListAlive(client, clientOptions.commandTimeout);
  client.on('error', (error: Error) => options.onError(error, role));
  if (role !== 'subscriber') defineScripts(client);
  return client;
}

/**
 * The connections look their master up at each connect (sentinel://, or a cluster URL's
 * connector, which reads the same sentinelRetryStrategy), so two of them may reach different
 * servers during a failover.
 */
export function locatesMaster(options: Pick<RedisOptions, 'sentinels' | 'Connector'>): boolean {
  return options.sentinels !== undefined || options.Connector !== undefined;
}

/** The longest pause between two rounds over every sentinel (or cluster seed) once none answered. */
const MAX_SENTINEL_ROUND_DELAY_MS = 1000;

/**
 * What ioredis does when no sentinel answered (or none knows the master). The command
 * connection's first connect gives up at once, so `connect()` rejects with why (a wrong
 * sentinel password, no sentinel up) and Connection's retry policy decides; once a connection
 * has worked it keeps asking, since a failover leaves it nothing else to do. The poll and
 * subscriber connections are only made once the command connection works, so they keep asking
 * from the start (giving up would end them for good).
 */
function sentinelRetry(role: ConnectionRole, everReady: () => boolean): (attempt: number) => number | null {
  return (attempt) => (role === 'command' && !everReady() ? null : Math.min(attempt * 100, MAX_SENTINEL_ROUND_DELAY_MS));
}

/**
 * ioredis arms a timer of `commandTimeout` ms for every command. Node keeps one list of timers
 * per duration and deletes it whenever it empties, which for commands sent one after another
 * is after every command; that bookkeeping lands in the old generation (a consumer's heap after
 * each scavenge grew ~0.11 MB per scavenge with the timeout, ~0.05 without). One idle, unref'd
 * interval of the same duration keeps the list for as long as the client lives.
 */
function keepTimerListAlive(client: Redis, ms: number): void {
  const keeper = setInterval(() => undefined, ms);
  keeper.unref();
  client.once('end', () => clearInterval(keeper));
}

/** Connects a lazy client; resolves when it is ready. */
export async function connectClient(client: Redis): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait' || client.status === 'end') {
    await client.connect();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      client.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      client.off('ready', onReady);
      reject(error);
    };
    client.once('ready', onReady);
    client.once('error', onError);
  });
}

/** Closes a client without waiting on a dead socket. */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready') await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000).unref())]);
  } catch {
    // QUIT on a half-dead socket fails; disconnect below is what matters.
  }
  client.disconnect(false);
}
