/**
 * The admission checks and dead-lettering every message taken from storage goes through before
 * it reaches a consumer or basicGet, and the dead-letter policy rejects follow. A layer of its own
 * because every path that takes or settles a message (basicGet, a poller's handleIncoming,
 * reject, basicDeadLetter, and brokers that dead-letter what their storage cannot decode) must
 * apply the same rules, and the rules need only the storage hooks below, not consumers or
 * restores. Split from channel-base.ts to keep files short; brokers subclass `VirtualChannel`.
 */
import { ChannelError } from '@kelp/core';
import { VirtualChannelBase } from './channel-base.js';
import { etaSeconds, oversizeReason, redeliveryLimitReason } from './delivery-checks.js';
import { type ParsedEnvelope, parseEnvelope, readAckInfo } from './envelope.js';
import { queueArguments } from './queue-arguments.js';

export abstract class VirtualChannelAdmission extends VirtualChannelBase {
  // ---- dead-letter routing ---------------------------------------------------------------------

  /**
   * The opt-in dead-letter routing of `queue` (transport option `deadLetterQueues`, or the queue
   * argument `x-dead-letter: true` declared in this process), with its redelivery limit
   * (`x-delivery-limit` argument, else the `maxRedeliveries` option). Undefined when off: then a
   * reject drops the message, as Kombu does.
   */
  protected deadLetterPolicy(queue: string): { maxRedeliveries: number | undefined } | undefined {
    const args = queueArguments(this.brokerState, queue);
    const listed = this.host.options.deadLetterQueues;
    const enabled = args?.['x-dead-letter'] === true || listed?.includes(queue) === true || listed?.includes('*') === true;
    if (!enabled) return undefined;
    const limit = Number(args?.['x-delivery-limit'] ?? this.host.options.maxRedeliveries ?? Number.NaN);
    return { maxRedeliveries: Number.isInteger(limit) && limit >= 0 ? limit : undefined };
  }

  // ---- admission and dead-lettering ----------------------------------------------------------

  /**
   * The checks every message passes before it reaches a consumer or basicGet: the size limit
   * (before parsing), a valid envelope, and on queues with dead-letter routing the redelivery
   * limit. A message failing one must be dead-lettered (never dropped): the reason says why.
   * `recordedTag` is the tag the storage recorded the message under, when it read that tag
   * itself (the Redis pop script may, without a full parse): the envelope must carry the same.
   */
  protected admit(queue: string, payload: string, recordedTag?: string): { ok: true; envelope: ParsedEnvelope } | { ok: false; reason: string } {
    const tooBig = oversizeReason(payload, this.host.options.maxMessageBytes);
    if (tooBig !== undefined) return { ok: false, reason: tooBig };
    const parsed = parseEnvelope(payload);
    if (!parsed.ok) return parsed;
    if (recordedTag !== undefined && parsed.envelope.deliveryTag !== recordedTag) {
      return { ok: false, reason: `properties.delivery_tag is not the tag the message was recorded under (${recordedTag})` };
    }
    const policy = parsed.envelope.redelivered ? this.deadLetterPolicy(queue) : undefined;
    const overLimit = policy && redeliveryLimitReason(parsed.envelope.headers, policy.maxRedeliveries);
    return overLimit ? { ok: false, reason: overLimit } : parsed;
  }

  /**
   * Moves a payload taken from storage aside. When it was recorded unacked, the record itself is
   * moved in one atomic step where the broker can (no window where it is in neither place);
   * otherwise the payload is stored and any record removed.
   */
  protected async deadLetterPayload(queue: string, payload: string, reason: string, recorded: boolean, knownTag?: string): Promise<void> {
    const tag = recorded ? (knownTag ?? readAckInfo(payload)?.deliveryTag) : undefined;
    const moved = tag !== undefined && this.deadLetterUnacked ? await this.deadLetterUnacked(tag, queue, reason) : undefined;
    if (!moved) {
      await this.deadLetter(queue, payload, reason);
      if (tag !== undefined) await this.ackUnacked([tag]);
    }
    this.host.reportDeadLettered({ queue, reason });
  }

  /**
   * A Celery worker holds an ETA message unacked until it is due; score its record at the ETA so
   * no sweeper (kelp's or Kombu's) restores it before ETA + visibility timeout. Not awaited: the
   * record was just written, and a sweeper cannot reach it before a visibility timeout passes.
   */
  protected holdUntilEta(env: ParsedEnvelope): void {
    const eta = etaSeconds(env.headers);
    if (eta === undefined || eta * 1000 <= Date.now()) return;
    const hold = this.holdUnackedUntil
      ? this.holdUnackedUntil(env.deliveryTag, eta)
      : this.extendUnacked?.(env.deliveryTag, eta - Date.now() / 1000 + this.host.options.visibilityTimeout);
    hold?.catch((error: unknown) => this.host.reportError(error));
  }

  /** Moves a delivered message's record aside (basicDeadLetter, and reject on dead-letter queues). */
  protected async settleDeadLetter(deliveryTag: string, queue: string | undefined, reason: string): Promise<void> {
    if (!this.deadLetterUnacked) {
      throw new ChannelError(`The ${this.constructor.name} storage cannot dead-letter delivered messages`);
    }
    const moved = await this.deadLetterUnacked(deliveryTag, queue, reason);
    if (moved) this.host.reportDeadLettered({ queue: moved.queue, reason });
  }
}
