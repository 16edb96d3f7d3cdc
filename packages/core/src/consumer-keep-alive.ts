/**
 * Visibility keep-alive for long callbacks (issue 4 item 3). On a transport with a visibility
 * timeout (Redis, memory://) an unacked message is restored by the sweep once it has been out for
 * that long, even while a handler is still working on it, and then it runs twice. While a callback
 * runs, the keep-alive pushes the message's deadline forward every `interval` seconds until the
 * message is settled or the callback ends.
 */
import { z } from 'zod';
import { MessageStateError } from './errors.js';
import type { Message } from './message.js';

export interface KeepAliveOptions {
  /** Seconds between extensions. Default: a third of the visibility timeout. */
  interval?: number;
  /** Seconds each extension keeps the message invisible for. Default: the visibility timeout. */
  extendBy?: number;
}

/** Kombu's (and kelp's transports') default visibility timeout, used when the real one is not known. */
export const DEFAULT_VISIBILITY_TIMEOUT = 3600;

export const keepAliveSchema = z
  .union([
    z.boolean(),
    z.strictObject({ interval: z.number().positive().optional(), extendBy: z.number().positive().optional() }),
  ])
  .optional();

export interface KeepAliveSettings {
  intervalMs: number;
  extendBy: number;
}

/** The settings for `option` given the transport's visibility timeout (seconds), or undefined when off. */
export function keepAliveSettings(
  option: boolean | KeepAliveOptions | undefined,
  visibilityTimeout: number | undefined,
): KeepAliveSettings | undefined {
  if (option === undefined || option === false) return undefined;
  const timeout = visibilityTimeout !== undefined && visibilityTimeout > 0 ? visibilityTimeout : DEFAULT_VISIBILITY_TIMEOUT;
  const given = option === true ? {} : option;
  return { intervalMs: (given.interval ?? timeout / 3) * 1000, extendBy: given.extendBy ?? timeout };
}

/**
 * Starts extending `message` every interval; returns the function that stops it. Nothing starts for
 * a no-ack message or a channel without `extendVisibility` (nothing would ever restore it).
 * A failed extension is reported and the next tick tries again: one lost round trip should not
 * give the message away, and the next success covers for it.
 */
export function startKeepAlive(
  message: Message,
  settings: KeepAliveSettings,
  report: (error: unknown) => void,
): (() => void) | undefined {
  if (message.delivery.noAck || !message.channel?.extendVisibility) return undefined;
  let inFlight = false;
  const timer = setInterval(() => {
    if (message.acknowledged) {
      clearInterval(timer);
      return;
    }
    if (inFlight) return;
    inFlight = true;
    message
      .extendVisibility(settings.extendBy)
      .catch((error: unknown) => {
        // Settled while the extension was on its way: not a failure.
        if (!(error instanceof MessageStateError) && !message.acknowledged) report(error);
      })
      .finally(() => {
        inFlight = false;
      });
  }, settings.intervalMs);
  // A callback in progress keeps the process alive by itself; the timer must not do so after it.
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}
