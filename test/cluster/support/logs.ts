/**
 * Reads the logs of the sentinel suite's producer processes (test/sentinel/support/
 * producer-process.ts) and the fault suite's consumer workers for the cluster load tests, and
 * counts from acks: an id is safe only when an ack of it was confirmed.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { readIncarnation, type Incarnation, type WorkerHandle } from '../../faults/support/workers.js';
import { listMessages, parseStored, queueKeys } from '../../faults/support/redis-data.js';

export interface ProducerLog {
  /** Publish attempts per id: each may have stored a copy. */
  attempts: Map<string, number>;
  confirmed: Set<string>;
  unconfirmed: Set<string>;
  rejected: Set<string>;
  /** Rejections with anything but OperationalError / PublishNotConfirmedError, and hung publishes: bugs. */
  bugs: string[];
}

export function readProducerLog(file: string): ProducerLog {
  const log: ProducerLog = { attempts: new Map(), confirmed: new Set(), unconfirmed: new Set(), rejected: new Set(), bugs: [] };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return log;
  }
  for (const raw of text.split('\n')) {
    const [kind, id] = raw.split(' ');
    if (id === undefined) continue;
    if (kind === 'T') log.attempts.set(id, (log.attempts.get(id) ?? 0) + 1);
    else if (kind === 'C') log.confirmed.add(id);
    else if (kind === 'U') log.unconfirmed.add(id);
    else if (kind === 'O') log.rejected.add(id);
    else if (kind === 'X' || kind === 'H') log.bugs.push(raw);
  }
  return log;
}

export interface AckCounts {
  incarnations: Incarnation[];
  /** Confirmed acks per id, over every consumer. */
  acks: Map<string, number>;
  /** Deliveries per id. */
  deliveries: Map<string, number>;
  /** Acks that failed (their outcome unknown). */
  failedAcks: Set<string>;
}

export function countAcks(consumers: readonly WorkerHandle[]): AckCounts {
  const incarnations = consumers.map((c, i) => readIncarnation(c.log, false, i));
  const acks = new Map<string, number>();
  const deliveries = new Map<string, number>();
  const failedAcks = new Set<string>();
  for (const inc of incarnations) {
    for (const d of inc.deliveries) deliveries.set(d.id, (deliveries.get(d.id) ?? 0) + 1);
    for (const id of inc.acked) acks.set(id, (acks.get(id) ?? 0) + 1);
    for (const id of inc.failedAcks) failedAcks.add(id);
  }
  return { incarnations, acks, deliveries, failedAcks };
}

/** Ids waiting in a queue's lists or in the prefix's `unacked` hash. */
export async function idsInRedis(master: Redis, prefix: string, queue: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const key of queueKeys(`${prefix}${queue}`)) for (const m of await listMessages(master, key)) ids.add(String((m.body as { id?: unknown }).id));
  for (const value of await master.hvals(`${prefix}unacked`)) {
    const [envelope] = JSON.parse(value) as [unknown];
    ids.add(String((parseStored(JSON.stringify(envelope)).body as { id?: unknown }).id));
  }
  return ids;
}
