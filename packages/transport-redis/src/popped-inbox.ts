/**
 * Messages a pop brought back that wait for the hub reader to hand them to the channel (a pop's
 * reply arrives outside the hub loop; deliveries must happen inside it). Each batch keeps whether
 * its pop recorded it in `unacked`, which decides how a message is acked or handed back.
 */
import type { PoppedEntry } from './scripts.js';

type PoppedBatch = { entries: readonly PoppedEntry[]; recorded: boolean };

export class PoppedInbox {
  private batches: PoppedBatch[] = [];
  private count = 0;

  /** Messages waiting (they hold prefetch slots). */
  get size(): number {
    return this.count;
  }

  add(entries: readonly PoppedEntry[], recorded: boolean): void {
    this.batches.push({ entries, recorded });
    this.count += entries.length;
  }

  /** Hands every waiting batch to `deliver`, in pop order (also what arrives while it runs). */
  deliver(deliver: (entries: readonly PoppedEntry[], recorded: boolean) => void): void {
    while (this.batches.length) {
      const batches = this.batches;
      this.batches = [];
      this.count = 0;
      for (const batch of batches) deliver(batch.entries, batch.recorded);
    }
  }

  /** Empties the inbox: what was never handed over, each with whether it was recorded. */
  takeAll(): { entry: PoppedEntry; recorded: boolean }[] {
    const rest = this.batches.flatMap((batch) => batch.entries.map((entry) => ({ entry, recorded: batch.recorded })));
    this.batches = [];
    this.count = 0;
    return rest;
  }
}
