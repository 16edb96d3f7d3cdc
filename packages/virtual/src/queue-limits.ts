/**
 * Queue length limits (docs/wire-format.md#length-limits): the queue arguments `x-max-length`
 * (waiting messages) and `x-max-length-bytes` (UTF-8 bytes of the waiting envelopes as stored),
 * with `x-overflow` `drop-head` (the default, as on RabbitMQ: the next message to be consumed
 * makes room, dead-lettered with the reason `maxlen` on a queue declared with `x-dead-letter:
 * true`, else dropped and counted) or `reject-publish` (the new message is refused and the
 * publish resolves with the status `rejected`). Unacked messages do not count. Enforced where
 * messages are stored, so every publisher applies them.
 */
import { ChannelError, ConfigurationError } from '@kelp/core';

export type Overflow = 'drop-head' | 'reject-publish';

export interface LengthLimits {
  maxLength: number | undefined;
  maxLengthBytes: number | undefined;
  overflow: Overflow;
  /** Dropped heads go to the dead-letter list (the queue was declared with `x-dead-letter: true`). */
  deadLetter: boolean;
}

/** The reason a dropped head is dead-lettered and counted with. */
export const MAXLEN_REASON = 'maxlen';

function wholeNumber(args: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const value = args[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigurationError(`Queue argument ${name} must be a whole number >= 0, got ${JSON.stringify(value)}`, { option: name });
  }
  return value;
}

/** The limits the arguments declare, undefined when none; bad values are refused. */
export function queueLengthLimits(args: Readonly<Record<string, unknown>> | undefined): LengthLimits | undefined {
  if (args === undefined) return undefined;
  const maxLength = wholeNumber(args, 'x-max-length');
  const maxLengthBytes = wholeNumber(args, 'x-max-length-bytes');
  const overflow = args['x-overflow'] ?? 'drop-head';
  if (overflow !== 'drop-head' && overflow !== 'reject-publish') {
    throw new ConfigurationError(`Queue argument x-overflow must be 'drop-head' or 'reject-publish', got ${JSON.stringify(overflow)}`, {
      option: 'x-overflow',
    });
  }
  if (maxLength === undefined && maxLengthBytes === undefined) return undefined;
  return { maxLength, maxLengthBytes, overflow, deadLetter: args['x-dead-letter'] === true };
}

/**
 * A store refused a message because queues in `rejected` are full (`reject-publish`); it was
 * stored in `reached`. The publisher turns it into the `rejected` publish status.
 */
export class QueueLimitRefusal extends ChannelError {
  constructor(
    readonly reached: readonly string[],
    readonly rejected: readonly string[],
  ) {
    super(`Queue ${rejected.join(', ')} is at its length limit (x-overflow reject-publish); the message was refused there`, { code: 406 });
  }
}
