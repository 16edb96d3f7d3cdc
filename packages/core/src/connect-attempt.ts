/**
 * One connection attempt: `transport.connect()` bounded by `connectTimeout` and the caller's
 * AbortSignal, even when the transport ignores the signal it is given.
 */
import { AbortedError, OperationalError } from './errors.js';
import type { Transport } from './transport.js';

export async function connectOnce(
  transport: Transport,
  options: { timeoutSeconds?: number | undefined; signal?: AbortSignal | undefined; redactedUrl: string },
): Promise<void> {
  const { timeoutSeconds, signal, redactedUrl } = options;
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const limits = new Promise<never>((_resolve, reject) => {
    onAbort = () => {
      controller.abort(signal?.reason);
      reject(new AbortedError('Connecting was aborted', { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutSeconds !== undefined) {
      timer = setTimeout(() => {
        controller.abort();
        reject(new OperationalError(`Connecting to ${redactedUrl} timed out after ${timeoutSeconds}s (connectTimeout)`));
      }, timeoutSeconds * 1000);
    }
  });
  // The attempt may settle after a limit fired; its late rejection is expected and ignored.
  const attempt = transport.connect(controller.signal);
  attempt.catch(() => undefined);
  limits.catch(() => undefined);
  try {
    await Promise.race([attempt, limits]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
