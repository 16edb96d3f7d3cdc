/**
 * How a Consumer hands one message to its callbacks or `onMessage`, and what happens when the
 * message cannot be decoded: `onDecodeError` if given, else the message goes to its queue's
 * dead-letter list with the reason (where the transport has one), else it stays unacked; the
 * error is reported either way (see consumer.ts for where reports go).
 */
import { isThenable, reasonFor, runInSequence, type ConsumerCallback, type ConsumerOptions } from './consumer-options.js';
import type { Message } from './message.js';

/** What the handler needs from its Consumer. */
export interface HandlerHost {
  readonly callbacks: readonly ConsumerCallback[];
  readonly onMessage: ConsumerOptions['onMessage'];
  readonly onDecodeError: ConsumerOptions['onDecodeError'];
  readonly settleByOutcome: boolean;
  /**
   * Messages handed to the decode-failure path (onDecodeError, the dead-letter list, or left
   * unacked on purpose): settle-by-outcome leaves them to it rather than acking them.
   */
  readonly decodeFailures: WeakSet<Message>;
  report(error: unknown, message: Message | undefined): void;
}

export function handleMessage(host: HandlerHost, message: Message): void | Promise<void> {
  const bodyError = message.errors[0];
  if (bodyError) return decodeFailed(host, message, bodyError);
  const { onMessage } = host;
  if (onMessage) {
    if (!host.settleByOutcome) return guardDecode(host, message, onMessage);
    return handleAndSettle(host, message, () => guardDecode(host, message, onMessage));
  }
  let body: unknown;
  try {
    body = message.decode();
  } catch (error) {
    return decodeFailed(host, message, error);
  }
  if (!host.settleByOutcome) return runCallbacks(host.callbacks, body, message);
  return handleAndSettle(host, message, () => runCallbacks(host.callbacks, body, message));
}

function runCallbacks(callbacks: readonly ConsumerCallback[], body: unknown, message: Message): void | Promise<void> {
  if (callbacks.length === 1) return (callbacks[0] as ConsumerCallback)(body, message);
  return runInSequence(callbacks.map((callback) => () => callback(body, message)));
}

/**
 * Runs an `onMessage` handler; if the error it throws is its own `message.decode()` failing
 * (and it left the message unsettled), that is a decode failure, handled as one, not a handler
 * bug: otherwise an undecodable message would come back after every visibility timeout.
 */
function guardDecode(host: HandlerHost, message: Message, handler: (message: Message) => void | Promise<void>): void | Promise<void> {
  let result: void | Promise<void>;
  try {
    result = handler(message);
  } catch (error) {
    return recoverDecode(host, message, error);
  }
  if (!isThenable(result)) return result;
  // Awaited in an async function, not chained with .then: the dispatcher tells a cancel() from
  // inside the handler by V8's async stack, which only follows awaits.
  return (async () => {
    try {
      await result;
    } catch (error) {
      await recoverDecode(host, message, error);
    }
  })();
}

/** The decode failure a handler let escape is handled as one; any other error is rethrown. */
function recoverDecode(host: HandlerHost, message: Message, error: unknown): void | Promise<void> {
  if (error === undefined || error !== message.decodeError || message.acknowledged) throw error;
  return decodeFailed(host, message, error);
}

function decodeFailed(host: HandlerHost, message: Message, error: unknown): void | Promise<void> {
  host.decodeFailures.add(message);
  if (host.onDecodeError) return host.onDecodeError(message, error);
  const channel = message.channel;
  if (message.delivery.noAck || !channel?.basicDeadLetter) {
    host.report(error, message);
    return;
  }
  return message.deadLetter(reasonFor(error)).then(
    () => host.report(error, message),
    (deadLetterError: unknown) => {
      // The message stays unacked (restored later); both failures are worth knowing about.
      host.report(error, message);
      host.report(deadLetterError, message);
    },
  );
}

/**
 * `settleByOutcome`: runs `handle` and settles its message by how it ends (see ConsumerOptions).
 * The returned promise settles once the ack or reject is confirmed, so the callback's slot stays
 * taken until the broker has the outcome, and a failed settle is reported with the message.
 */
export function handleAndSettle(host: HandlerHost, message: Message, handle: () => void | Promise<void>): Promise<void> {
  let result: void | Promise<void>;
  try {
    result = handle();
  } catch (error) {
    return failed(host, message, error);
  }
  if (!isThenable(result)) return succeeded(host, message);
  return settleAfter(host, message, result);
}

/** Awaits (not `.then`): the dispatcher tells a cancel() from inside a callback by V8's async stack. */
async function settleAfter(host: HandlerHost, message: Message, result: PromiseLike<void>): Promise<void> {
  try {
    await result;
  } catch (error) {
    await failed(host, message, error);
    return;
  }
  await succeeded(host, message);
}

/**
 * A message the decode-failure path took is its to settle, never acked here; one whose handler
 * caught its own decode error and returned counts as handled.
 */
function succeeded(host: HandlerHost, message: Message): Promise<void> {
  return message.acknowledged || host.decodeFailures.has(message) ? Promise.resolve() : message.ack();
}

async function failed(host: HandlerHost, message: Message, error: unknown): Promise<void> {
  host.report(error, message);
  if (message.acknowledged || message.delivery.noAck) return;
  const queue = message.deliveryInfo.queue;
  const deadLetters = queue !== undefined && message.channel?.deadLetters?.(queue) === true;
  await message.reject({ requeue: !deadLetters });
}
