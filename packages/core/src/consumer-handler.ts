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
  report(error: unknown, message: Message | undefined): void;
}

export function handleMessage(host: HandlerHost, message: Message): void | Promise<void> {
  const bodyError = message.errors[0];
  if (bodyError) return decodeFailed(host, message, bodyError);
  if (host.onMessage) return guardDecode(host, message, host.onMessage);
  let body: unknown;
  try {
    body = message.decode();
  } catch (error) {
    return decodeFailed(host, message, error);
  }
  return runInSequence(host.callbacks.map((callback) => () => callback(body, message)));
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
