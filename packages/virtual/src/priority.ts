/**
 * Message priorities as Kombu's virtual transports store them (docs/wire-format.md#priorities): a
 * priority is clamped to 0..9, mapped to the largest configured step not above it, and each
 * non-zero step gets its own sub-list named `<queue><sep><step>`. Lower numbers are consumed first.
 */

/** Kombu's default `priority_steps`. */
export const DEFAULT_PRIORITY_STEPS: readonly number[] = Object.freeze([0, 3, 6, 9]);
/** Kombu's default `sep`: the two control characters ACK and SYN. */
export const DEFAULT_PRIORITY_SEP = '\x06\x16';
export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 9;

/**
 * Python's `int(value)` for the shapes a priority takes on the wire; `undefined` when Python would
 * raise (then Kombu falls back to 0).
 */
export function pythonInt(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : undefined;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    // int() accepts surrounding whitespace, a sign and digit-group underscores, nothing else.
    const trimmed = value.trim();
    if (!/^[+-]?\d+(?:_\d+)*$/.test(trimmed)) return undefined;
    return Number.parseInt(trimmed.replace(/_/g, ''), 10);
  }
  return undefined;
}

/**
 * `int(priority)` bound to [0, 9]; missing or unconvertible values count as 0
 * (docs/wire-format.md#priorities).
 */
export function clampPriority(value: unknown): number {
  const n = pythonInt(value);
  if (n === undefined || Number.isNaN(n)) return MIN_PRIORITY;
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, n));
}

/**
 * The step a (clamped) priority is stored under: `steps[bisect_right(steps, p) - 1]`. Keeps
 * Python's quirk that a priority below the first step gives index -1, i.e. the LAST step.
 */
export function priorityStep(priority: number, steps: readonly number[] = DEFAULT_PRIORITY_STEPS): number {
  if (steps.length === 0) return 0;
  let lo = 0;
  let hi = steps.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (priority < (steps[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  const index = lo - 1;
  return (index < 0 ? steps[steps.length - 1] : steps[index]) as number;
}

/** The list name for `step`: the bare queue for step 0, else `<queue><sep><step>` (Kombu `_q_for_pri`). */
export function queueKeyForPriority(queue: string, step: number, sep: string = DEFAULT_PRIORITY_SEP): string {
  return step === 0 ? queue : `${queue}${sep}${step}`;
}

/** Every list of `queue`, in read order (steps as configured, normally ascending). */
export function priorityQueueKeys(
  queue: string,
  steps: readonly number[] = DEFAULT_PRIORITY_STEPS,
  sep: string = DEFAULT_PRIORITY_SEP,
): string[] {
  return steps.map((step) => queueKeyForPriority(queue, step, sep));
}

/**
 * The keys of a multi-queue BRPOP in Kombu's order: every queue's first step, then every queue's
 * second step, and so on, so that urgency beats queue order.
 */
export function multiQueuePriorityKeys(
  queues: readonly string[],
  steps: readonly number[] = DEFAULT_PRIORITY_STEPS,
  sep: string = DEFAULT_PRIORITY_SEP,
): string[] {
  const keys: string[] = [];
  for (const step of steps) for (const queue of queues) keys.push(queueKeyForPriority(queue, step, sep));
  return keys;
}
