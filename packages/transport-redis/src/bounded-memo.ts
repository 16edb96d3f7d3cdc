/**
 * A per-channel memo of a pure string -> value derivation (key names built from queue and
 * exchange names), asked once per message on hot paths. Bounded: a channel that sees ever new
 * names must not grow without end, so it starts over when full (recomputing is cheap; only the
 * steady set of names matters).
 */
export class BoundedMemo<V> {
  private readonly values = new Map<string, V>();

  constructor(
    private readonly limit: number,
    private readonly compute: (name: string) => V,
  ) {}

  get(name: string): V {
    let value = this.values.get(name);
    if (value === undefined) {
      if (this.values.size >= this.limit) this.values.clear();
      value = this.compute(name);
      this.values.set(name, value);
    }
    return value;
  }
}
