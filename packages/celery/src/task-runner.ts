/**
 * Runs one task function under its time limits: at the soft limit the context's signal aborts with
 * a `SoftTimeLimitExceeded` error (the function may catch it and clean up), at the hard limit the
 * run is abandoned with `TimeLimitExceeded`. JavaScript cannot kill a running function, so an
 * abandoned one may go on in the background; its late outcome is ignored.
 */
import { pythonError } from './exception-info.js';
import { setLongTimeout, type LongTimeout } from './long-timeout.js';

export type RunOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface RunLimits {
  timeLimit: number | undefined;
  softTimeLimit: number | undefined;
}

/**
 * `run` gets the signal to pass on and a function that aborts it and ends the run at once with the
 * reason (a terminate), as the hard limit does.
 */
export async function runWithLimits(run: (signal: AbortSignal, abort: (reason: Error) => void) => unknown, limits: RunLimits, stopSignal: AbortSignal): Promise<RunOutcome> {
  const controller = new AbortController();
  let terminate: ((reason: Error) => void) | undefined;
  const terminated = new Promise<never>((_, reject) => {
    terminate = reject;
  });
  terminated.catch(() => undefined);
  const abort = (reason: Error) => {
    controller.abort(reason);
    terminate?.(reason);
  };
  const onStop = () => controller.abort(stopSignal.reason);
  stopSignal.addEventListener('abort', onStop, { once: true });
  const timers: LongTimeout[] = [];
  try {
    if (limits.softTimeLimit !== undefined) {
      const soft = limits.softTimeLimit;
      timers.push(setLongTimeout(() => controller.abort(pythonError('SoftTimeLimitExceeded', `Soft time limit (${soft}s) exceeded`, [])), soft * 1000));
    }
    const running = (async () => run(controller.signal, abort))();
    // An abandoned run may still reject later; that outcome is no longer anyone's.
    running.catch(() => undefined);
    const hard = limits.timeLimit;
    const outcome = Promise.race([
      running,
      terminated,
      ...(hard === undefined
        ? []
        : [
            new Promise<never>((_, reject) => {
              timers.push(setLongTimeout(() => reject(pythonError('TimeLimitExceeded', `Time limit (${hard}s) exceeded`, [hard])), hard * 1000));
            }),
          ]),
    ]);
    return { ok: true, value: await outcome };
  } catch (error) {
    return { ok: false, error };
  } finally {
    for (const timer of timers) timer.clear();
    stopSignal.removeEventListener('abort', onStop);
  }
}
