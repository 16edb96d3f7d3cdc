/**
 * `ChannelAdmission`: the checks every message taken from storage goes through before it reaches
 * a consumer or basicGet, the dead-lettering of those that fail, and the dead-letter policy
 * rejects follow. Every path that takes or settles a message (basicGet, a poller's hand-over,
 * reject, basicDeadLetter) applies the same rules, and the rules need only the storage, not
 * consumers or restores, so they are one collaborator of the channel, testable alone.
 */
import { ChannelError } from '@kelp/core';
import type { ChannelReports } from './channel-host.js';
import type { ChannelStorage } from './channel-storage.js';
import { etaSeconds, oversizeReason, redeliveryLimitReason } from './delivery-checks.js';
import { type ParsedEnvelope, parseEnvelope, readAckInfo } from './envelope.js';
import type { BrokerState } from './exchange.js';
import { EXPIRED_REASON, envelopeDeadline } from './message-expiry.js';
import type { VirtualTransportOptions } from './options.js';
import { queueArguments } from './queue-arguments.js';

/** `expired`: the message's TTL had passed; settle it with `settleExpired`, not as a dead letter. */
export type AdmissionResult = { ok: true; envelope: ParsedEnvelope } | { ok: false; reason: string; expired?: true };

export interface AdmissionContext {
  readonly storage: Pick<ChannelStorage, 'deadLetter' | 'unacked' | 'countDropped'>;
  readonly options: VirtualTransportOptions;
  readonly brokerState: BrokerState;
  readonly reports: Pick<ChannelReports, 'reportDeadLettered' | 'reportExpired' | 'reportError'>;
}

/**
 * Moves a message taken from storage to `queue`'s dead-letter list. When it was recorded unacked
 * under `tag`, the record itself is moved in one atomic step where the store can (no window where
 * it is in neither place); otherwise the payload is stored and any record removed.
 */
export async function moveTakenAside(
  storage: Pick<ChannelStorage, 'deadLetter' | 'unacked'>,
  taken: { queue: string; payload: string; reason: string; tag: string | undefined },
): Promise<void> {
  const { queue, payload, reason, tag } = taken;
  const moved = tag !== undefined && storage.unacked.deadLetters ? await storage.unacked.deadLetters.moveToDeadLetters(tag, queue, reason) : undefined;
  if (moved) return;
  await storage.deadLetter(queue, payload, reason);
  if (tag !== undefined) await storage.unacked.ack([tag]);
}

export class ChannelAdmission {
  constructor(private readonly ctx: AdmissionContext) {}

  /**
   * The opt-in dead-letter routing of `queue` (transport option `deadLetterQueues`, or the queue
   * argument `x-dead-letter: true` declared in this process), with its redelivery limit
   * (`x-delivery-limit` argument, else the `maxRedeliveries` option). Undefined when off: then a
   * reject drops the message, as Kombu does.
   */
  deadLetterPolicy(queue: string): { maxRedeliveries: number | undefined } | undefined {
    const args = queueArguments(this.ctx.brokerState, queue);
    const listed = this.ctx.options.deadLetterQueues;
    const enabled = args?.['x-dead-letter'] === true || listed?.includes(queue) === true || listed?.includes('*') === true;
    if (!enabled) return undefined;
    const limit = Number(args?.['x-delivery-limit'] ?? this.ctx.options.maxRedeliveries ?? Number.NaN);
    return { maxRedeliveries: Number.isInteger(limit) && limit >= 0 ? limit : undefined };
  }

  /**
   * The checks every message passes before it reaches a consumer or basicGet: the size limit
   * (before parsing), a valid envelope, and on queues with dead-letter routing the redelivery
   * limit. A message failing one must be dead-lettered (never dropped): the reason says why.
   * `recordedTag` is the tag the storage recorded the message under, when it read that tag
   * itself (the Redis pop script may, without a full parse): the envelope must carry the same.
   */
  admit(queue: string, payload: string, recordedTag?: string): AdmissionResult {
    const tooBig = oversizeReason(payload, this.ctx.options.maxMessageBytes);
    if (tooBig !== undefined) return { ok: false, reason: tooBig };
    const parsed = parseEnvelope(payload);
    if (!parsed.ok) return parsed;
    if (recordedTag !== undefined && parsed.envelope.deliveryTag !== recordedTag) {
      return { ok: false, reason: `properties.delivery_tag is not the tag the message was recorded under (${recordedTag})` };
    }
    // The storage's take settles expired messages; this catches the ones it cannot see (a
    // deadline passing in between, an envelope laid out unlike Kombu's and kelp's).
    const deadline = envelopeDeadline(payload, parsed.envelope.properties);
    if (deadline !== undefined && deadline <= Date.now()) return { ok: false, reason: EXPIRED_REASON, expired: true };
    const policy = parsed.envelope.redelivered ? this.deadLetterPolicy(queue) : undefined;
    const overLimit = policy && redeliveryLimitReason(parsed.envelope.headers, policy.maxRedeliveries);
    return overLimit ? { ok: false, reason: overLimit } : parsed;
  }

  /** Dead-letters a payload that failed `admit` (see moveTakenAside) and reports it. */
  async deadLetterTaken(queue: string, payload: string, reason: string, recorded: boolean, knownTag?: string): Promise<void> {
    const tag = recorded ? (knownTag ?? readAckInfo(payload)?.deliveryTag) : undefined;
    await moveTakenAside(this.ctx.storage, { queue, payload, reason, tag });
    this.ctx.reports.reportDeadLettered({ queue, reason });
  }

  /**
   * Settles a taken message whose TTL had passed: dead-lettered with the reason `expired` where
   * `queue` has dead-letter routing, else dropped (its record removed) and counted.
   */
  async settleExpired(queue: string, payload: string, recorded: boolean, knownTag?: string): Promise<void> {
    const deadLettered = this.deadLetterPolicy(queue) !== undefined;
    if (deadLettered) {
      await this.deadLetterTaken(queue, payload, EXPIRED_REASON, recorded, knownTag);
    } else {
      const tag = recorded ? (knownTag ?? readAckInfo(payload)?.deliveryTag) : undefined;
      if (tag !== undefined) await this.ctx.storage.unacked.ack([tag]);
      await this.ctx.storage.countDropped(queue, EXPIRED_REASON);
    }
    this.ctx.reports.reportExpired({ queue, deadLettered });
  }

  /** `settleExpired` or `deadLetterTaken`, as a failed `admit` says. */
  async settleRefused(queue: string, payload: string, refused: { reason: string; expired?: true }, recorded: boolean, knownTag?: string): Promise<void> {
    if (refused.expired) await this.settleExpired(queue, payload, recorded, knownTag);
    else await this.deadLetterTaken(queue, payload, refused.reason, recorded, knownTag);
  }

  /**
   * A Celery worker holds an ETA message unacked until it is due; score its record at the ETA so
   * no sweeper (kelp's or Kombu's) restores it before ETA + visibility timeout. Not awaited: the
   * record was just written, and a sweeper cannot reach it before a visibility timeout passes.
   */
  holdUntilEta(env: ParsedEnvelope): void {
    const eta = etaSeconds(env.headers);
    if (eta === undefined || eta * 1000 <= Date.now()) return;
    const visibility = this.ctx.storage.unacked.visibility;
    if (!visibility) return;
    const hold = visibility.holdUntil
      ? visibility.holdUntil(env.deliveryTag, eta)
      : visibility.extend(env.deliveryTag, eta - Date.now() / 1000 + this.ctx.options.visibilityTimeout);
    hold.catch((error: unknown) => this.ctx.reports.reportError(error));
  }

  /** Moves a delivered message's record aside (basicDeadLetter, and reject on dead-letter queues). */
  async settleDeadLetter(deliveryTag: string, queue: string | undefined, reason: string): Promise<void> {
    const deadLetters = this.ctx.storage.unacked.deadLetters;
    if (!deadLetters) {
      throw new ChannelError(`The ${this.ctx.storage.constructor.name} storage cannot dead-letter delivered messages`);
    }
    const moved = await deadLetters.moveToDeadLetters(deliveryTag, queue, reason);
    if (moved) this.ctx.reports.reportDeadLettered({ queue: moved.queue, reason });
  }
}
