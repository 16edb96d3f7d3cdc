/**
 * Publishing with accounting: every publish ends in exactly one bucket, so a fault test can show
 * that none was dropped silently. `ok` resolved; `operational` rejected with OperationalError
 * (allowed during an outage); `other` rejected with anything else (a bug); `hung` never settled
 * within the deadline (a bug: a publish must not wait forever on a dead link).
 */
import { OperationalError, type Connection } from 'kelp';

export interface PublishTally {
  ok: string[];
  operational: string[];
  /** How long each OperationalError rejection took (ms): shows whether the retry policy was followed. */
  operationalMs: number[];
  other: { id: string; error: string }[];
  hung: string[];
  /** The longest time any publish took to settle (ok or rejected), in ms. */
  slowestMs: number;
  /** When each hung publish was called (ms since epoch). */
  hungStartedAt: number[];
  /** Not attempted because an earlier publish hung (the run stops at the first hang to stay bounded). */
  skipped: number;
}

export interface PublishOptions {
  concurrency?: number;
  /** Per-publish deadline (ms) before it counts as hung. */
  deadlineMs?: number;
  /** Extra publish options (retry policy, headers, ...). */
  publish?: Record<string, unknown>;
  /** Body padding in bytes. */
  pad?: number;
  /** Called after each settled publish (e.g. to pace or to inject a fault mid-stream). */
  onSettled?: (settledCount: number, id: string) => void | Promise<void>;
  /** Milliseconds to wait between publishes (per lane). */
  gapMs?: number;
}

export async function publishIds(connection: Connection, queue: string, ids: readonly string[], options: PublishOptions = {}): Promise<PublishTally> {
  const tally: PublishTally = { ok: [], operational: [], operationalMs: [], other: [], hung: [], hungStartedAt: [], slowestMs: 0, skipped: 0 };
  const producer = connection.Producer({ routingKey: queue });
  const pad = options.pad ? 'x'.repeat(options.pad) : undefined;
  let next = 0;
  let settled = 0;
  const lane = async (): Promise<void> => {
    while (next < ids.length && tally.hung.length === 0) {
      const id = ids[next++] as string;
      let timer: NodeJS.Timeout | undefined;
      const began = Date.now();
      const deadline = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), options.deadlineMs ?? 30_000)));
      try {
        const outcome = await Promise.race([
          producer.publish(pad ? { id, pad } : { id }, { routingKey: queue, ...(options.publish ?? {}) }).then(() => 'ok' as const),
          deadline,
        ]);
        if (outcome === 'ok') tally.ok.push(id);
        else {
          tally.hung.push(id);
          tally.hungStartedAt.push(began);
        }
      } catch (error) {
        if (error instanceof OperationalError) {
          tally.operational.push(id);
          tally.operationalMs.push(Date.now() - began);
        }
        else tally.other.push({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      } finally {
        clearTimeout(timer);
        tally.slowestMs = Math.max(tally.slowestMs, Date.now() - began);
      }
      await options.onSettled?.(settled++, id);
      if (options.gapMs) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 32) }, lane));
  tally.skipped = ids.length - next;
  return tally;
}
