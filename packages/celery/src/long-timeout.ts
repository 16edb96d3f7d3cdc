/**
 * `setTimeout` for any delay. Node fires a timer of more than 2^31-1 ms (about 24.8 days) at
 * once, so an ETA a month ahead, or a result wait that long, would end at once; this chains
 * timers of at most that length until the due time.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/** Calls `fn` once `ms` milliseconds have passed (by the clock, checked at each hop). */
export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  const due = Date.now() + Math.max(0, ms);
  let timer: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (delay: number) => {
    timer = setTimeout(hop, Math.min(Math.max(0, delay), MAX_TIMER_MS));
  };
  const hop = () => {
    if (cleared) return;
    const left = due - Date.now();
    if (left > 0) arm(left);
    else fn();
  };
  arm(ms);
  return {
    clear() {
      cleared = true;
      clearTimeout(timer);
    },
  };
}
