/**
 * One driver for the link faults (Redis restart, CLIENT KILL, half-open socket): two in-process
 * consumers and a paced producer run across the fault; every publish is accounted for
 * (publishIds), every delivery recorded, and the connection events counted.
 */
import { Connection, Queue, type Message } from 'kelp';
import type { Redis } from 'ioredis';
import { consumeInProcess, type RunningConsumer } from './in-process.js';
import { publishIds, type PublishTally } from './producer.js';
import { deadLetterKey, queueLength, sleep, unackedIds, waitFor, waitingIds } from './redis-data.js';
import { reportScenario } from './report.js';

export interface OutageOptions {
  /** URL the consumers connect to (through a proxy for the half-open fault). */
  url: string;
  /** URL the producer connects to (default: `url`). */
  producerUrl?: string;
  /** Inspection client on the real server. */
  admin: () => Redis;
  queue: string;
  total: number;
  /** Milliseconds between publishes of one lane (4 lanes). */
  gapMs: number;
  /** Publish index at which the fault starts. */
  faultAt: number;
  /** Injects the fault; resolves when the fault is over (server back, proxy forwarding...). */
  inject: () => Promise<void>;
  transportOptions: Record<string, unknown>;
  /** How long to wait for everything to settle after publishing (ms). */
  settleMs?: number;
}

/** Consumers each run and their prefetch: together the most messages whose ack one fault can cut off. */
const CONSUMERS = 2;
const PREFETCH = 20;

export interface OutageResult {
  tally: PublishTally;
  /** Publishes rejected with OperationalError whose message arrived anyway (reply lost). */
  failedButDelivered: number;
  delivered: Map<string, number>;
  acked: Set<string>;
  failedAcks: number;
  /**
   * ok publishes with no confirmed ack, no longer in Redis (queue or unacked), and not an
   * ackUnconfirmed id: never delivered, or delivered and then dropped (for instance still
   * unacked after its ack failed, and not brought back by a restore).
   */
  lostIds: string[];
  /**
   * The ack call failed (its reply was lost with the link), the entry was already gone from
   * `unacked` when the test looked right after the failure, the id was never acked later and is
   * not in Redis: the ack reached the server. Processed at least once, not lost; never more than
   * `ackWindow` per fault.
   */
  ackUnconfirmedIds: string[];
  /** Acks that failed while their entry was still in `unacked`: each must come back and be acked. */
  heldAfterFailedAck: number;
  /**
   * Failed acks whose entry the test could not look up before a restore may have taken it (the
   * visibility timeout after the delivery): gone then would not prove the ack landed.
   */
  ackChecksUnanswered: number;
  /** The most deliveries the consumers hold at once (consumers x prefetch). */
  ackWindow: number;
  /** ok publishes never acked but still in Redis (waiting or unacked): stranded, not lost. */
  strandedIds: string[];
  settled: boolean;
  events: { connectionLost: number; reconnected: number; errors: string[] };
  /** When the fault started and ended (ms since epoch). */
  faultWindow: { from: number; to: number | undefined };
  /** The producer connection's state at the end ("connection/transport"). */
  producerState: string;
  /** From the end of the fault to the first delivery of a message published after it. */
  resumeMs: number | undefined;
  redelivered: number;
  deadLettered: number;
  waiting: number;
  unacked: number;
}

export async function runOutage(options: OutageOptions): Promise<OutageResult> {
  const delivered = new Map<string, number>();
  const deliveredAt = new Map<string, number>();
  const publishedAt = new Map<string, number>();
  const acked = new Set<string>();
  let failedAcks = 0;
  // Inspection client on the real server, also asked right after each failed ack.
  const admin = options.admin();
  const heldAfterFailedAck = new Set<string>();
  const goneAfterFailedAck = new Set<string>();
  let ackChecksUnanswered = 0;
  const ackChecks: Promise<void>[] = [];
  const visibilityMs = Number(options.transportOptions['visibility_timeout'] ?? 3600) * 1000;
  const checkFailedAck = async (id: string, tag: string, deliveredAt: number): Promise<void> => {
    let held: number | undefined;
    // Retried: the server may be down (restart) or the client killed with the others.
    const deadline = deliveredAt + visibilityMs;
    await waitFor(async () => (held = await admin.hexists('unacked', tag).catch(() => undefined)) !== undefined, deadline - Date.now(), 50);
    if (held === undefined || Date.now() >= deadline) ackChecksUnanswered += 1;
    else (held === 1 ? heldAfterFailedAck : goneAfterFailedAck).add(id);
  };
  const events = { connectionLost: 0, reconnected: 0, errors: [] as string[] };
  const consumers: Array<{ connection: Connection; running: RunningConsumer }> = [];
  const producerConnection = new Connection(options.producerUrl ?? options.url, { transportOptions: options.transportOptions });
  producerConnection.on('error', (e) => events.errors.push(`producer: ${e.message}`));

  for (let i = 0; i < CONSUMERS; i++) {
    const connection = new Connection(options.url, { transportOptions: options.transportOptions });
    connection.on('connectionLost', () => (events.connectionLost += 1));
    connection.on('reconnected', () => (events.reconnected += 1));
    connection.on('error', (e) => events.errors.push(e.message));
    const running = await consumeInProcess(connection, new Queue(options.queue), {
      prefetchCount: PREFETCH,
      onMessage: async (message: Message) => {
        const id = String((message.decode() as { id: string }).id);
        const at = Date.now();
        delivered.set(id, (delivered.get(id) ?? 0) + 1);
        if (!deliveredAt.has(id)) deliveredAt.set(id, Date.now());
        try {
          await message.ack();
          acked.add(id);
        } catch {
          failedAcks += 1;
          ackChecks.push(checkFailedAck(id, message.deliveryTag, at));
        }
      },
      onError: (error) => events.errors.push(error instanceof Error ? error.message : String(error)),
    });
    consumers.push({ connection, running });
  }

  let faultOver: number | undefined;
  let faultStart = 0;
  let fault: Promise<void> | undefined;
  const ids = Array.from({ length: options.total }, (_, i) => `o${i}`);
  try {
    const tally = await publishIds(producerConnection, options.queue, ids, {
      concurrency: 4,
      gapMs: options.gapMs,
      deadlineMs: Number(process.env["KELP_FAULT_PUBLISH_DEADLINE_MS"] ?? 15_000),
      publish: { retry: true, retryPolicy: { maxRetries: 3, intervalStart: 0.2, intervalStep: 0.3, intervalMax: 1 } },
      onSettled: (index, id) => {
        publishedAt.set(id, Date.now());
        if (index === options.faultAt && !fault) {
          faultStart = Date.now();
          fault = options.inject().then(() => {
            faultOver = Date.now();
          });
        }
      },
    });
    await fault;
    const okIds = new Set(tally.ok);
    const settled = await waitFor(
      async () => [...okIds].every((id) => delivered.has(id)) && (await queueLength(admin, options.queue)) === 0 && (await admin.hlen('unacked')) === 0,
      options.settleMs ?? 30_000,
      250,
    );
    let resumeMs: number | undefined;
    if (faultOver !== undefined) {
      const after = [...deliveredAt.entries()].filter(([id]) => (publishedAt.get(id) ?? 0) > (faultOver as number)).map(([, at]) => at);
      if (after.length > 0) resumeMs = Math.min(...after) - faultOver;
    }
    await Promise.all(ackChecks);
    let deliveries = 0;
    for (const n of delivered.values()) deliveries += n;
    const inRedis = new Set([...(await waitingIds(admin, options.queue)), ...(await unackedIds(admin, options.queue))]);
    const notAcked = tally.ok.filter((id) => !acked.has(id));
    // Gone right after a failed ack, and never seen unacked after one: that ack landed.
    const ackUnconfirmed = (id: string) => goneAfterFailedAck.has(id) && !heldAfterFailedAck.has(id);
    let producerState = producerConnection.state as string;
    try {
      producerState += `/${producerConnection.transport.state}`;
    } catch {
      producerState += '/none';
    }
    return {
      faultWindow: { from: faultStart, to: faultOver },
      producerState,
      tally,
      failedButDelivered: tally.operational.filter((id) => delivered.has(id)).length,
      delivered,
      acked,
      failedAcks,
      lostIds: notAcked.filter((id) => !inRedis.has(id) && !ackUnconfirmed(id)),
      ackUnconfirmedIds: notAcked.filter((id) => !inRedis.has(id) && ackUnconfirmed(id)),
      heldAfterFailedAck: heldAfterFailedAck.size,
      ackChecksUnanswered,
      ackWindow: CONSUMERS * PREFETCH,
      strandedIds: notAcked.filter((id) => inRedis.has(id)),
      settled,
      events,
      resumeMs,
      redelivered: deliveries - delivered.size,
      deadLettered: await admin.llen(deadLetterKey(options.queue)),
      waiting: await queueLength(admin, options.queue),
      unacked: await admin.hlen('unacked'),
    };
  } finally {
    // A close stuck on a dead link must not keep the test (and the vitest worker) alive.
    const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => undefined), sleep(5_000)]);
    for (const { connection, running } of consumers) {
      await bounded(running.stop());
      await bounded(connection.close());
    }
    await bounded(producerConnection.close());
  }
}

/**
 * Prints an outage scenario's line: the counts every link fault reports (published, acked, lost,
 * stranded, rejected, hung, resume time, connection events), plus the scenario's own `extra`.
 */
export function reportOutage(scenario: string, result: OutageResult, extra: Record<string, string | number> = {}): string {
  return reportScenario(scenario, {
    published: result.tally.ok.length,
    acked: result.acked.size,
    redelivered: result.redelivered,
    deadLettered: result.deadLettered,
    lost: result.lostIds.length,
    extra: {
      stranded: result.strandedIds.length,
      ackUnconfirmed: result.ackUnconfirmedIds.length,
      heldAfterFailedAck: result.heldAfterFailedAck,
      ackChecksUnanswered: result.ackChecksUnanswered,
      rejectedOperational: result.tally.operational.length,
      otherErrors: result.tally.other.length,
      hung: result.tally.hung.length,
      skipped: result.tally.skipped,
      resumeMs: result.resumeMs ?? 'never',
      ...extra,
      connectionLost: result.events.connectionLost,
      reconnected: result.events.reconnected,
    },
  });
}

/**
 * What every link fault must show about acks: nothing lost, every failed ack looked up, and the
 * acks that landed unconfirmed within one window of deliveries per fault.
 */
export function ackAccounting(result: OutageResult, faults: number): Record<string, unknown> {
  return {
    lost: result.lostIds.slice(0, 20),
    ackChecksUnanswered: result.ackChecksUnanswered,
    ackUnconfirmedWithinWindow: result.ackUnconfirmedIds.length <= result.ackWindow * faults,
  };
}

/** The value `ackAccounting` has when nothing was lost. */
export const ACKS_ACCOUNTED = { lost: [], ackChecksUnanswered: 0, ackUnconfirmedWithinWindow: true };
