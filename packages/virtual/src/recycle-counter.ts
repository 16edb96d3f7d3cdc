/**
 * When to replace a long-lived, churned Map or Set by a copy of itself.
 *
 * V8 rebuilds a hash table every few deletes and inserts, and allocates the new table in the
 * generation of the old one. Once a collection that lives for the whole connection has been
 * promoted, each rebuild leaves a dead table in the old generation, which only a full GC frees:
 * a consumer's heap after scavenges grew by ~0.5 MB per scavenge over a drain (QoS's delivered
 * map; the command connection's unanswered Set: 27 -> 35 MB). A fresh copy every `every`
 * removals is young again, so its churn dies in scavenges; it costs one copy of what is still
 * held (at most the prefetch, or the commands in flight).
 */
export class RecycleCounter {
  #removals = 0;

  constructor(private readonly every = 1024) {}

  /** Counts one removal; true when the caller should replace its collection by a copy now. */
  removed(): boolean {
    if (++this.#removals < this.every) return false;
    this.#removals = 0;
    return true;
  }
}
