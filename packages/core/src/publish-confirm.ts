/**
 * Confirmed publishes: the `confirm` option of `Producer.publish` and `channel.basicPublish`,
 * and its validation. A confirmed publish resolves once the broker reports that at least
 * `replicas` replicas hold the write (Redis `WAIT`), and rejects with
 * {@link PublishNotConfirmedError} when they do not within `timeout` seconds.
 */
import { z } from 'zod';
import { OptionNames, parseOptions } from './option-parsing.js';

/** What `confirm` accepts: `true` (one replica, the default timeout), `false`, or the settings. */
export type ConfirmOption = boolean | ConfirmSettings;

export interface ConfirmSettings {
  /** How many replicas must acknowledge the write (default 1; 0 asks for no confirmation). */
  replicas?: number;
  /** Seconds to wait for them (default {@link DEFAULT_CONFIRM_TIMEOUT}). */
  timeout?: number;
}

/** The options of `channel.basicPublish`. */
export interface BasicPublishOptions {
  /**
   * Resolve only once this many replicas hold what the publish stored (see
   * `PublishOptions.confirm`); rejects with `PublishNotConfirmedError` otherwise.
   */
  confirm?: ConfirmOption;
  /**
   * Delayed delivery: the time (epoch milliseconds) the message becomes visible in its queues.
   * Routed now, stored in each queue's delayed set until then (docs/wire-format.md#delayed-delivery);
   * a time not in the future publishes at once. `Producer.publish` sets it from `countdown` / `eta`.
   */
  deliverAt?: number;
}

/** A validated `confirm`: what the transport waits for. */
export interface PublishConfirm {
  readonly replicas: number;
  readonly timeout: number;
}

/**
 * Seconds a confirmed publish waits for its replicas unless told otherwise. A healthy replica
 * acknowledges within a round trip; a second is ample on a loaded host and short enough that a
 * missing replica is reported while the caller can still act on it.
 */
export const DEFAULT_CONFIRM_TIMEOUT = 1;

const CONFIRM_NAMES = OptionNames.of<ConfirmSettings>({ replicas: true, timeout: true });
const BASIC_PUBLISH_NAMES = OptionNames.of<BasicPublishOptions>({ confirm: true, deliverAt: true });

const confirmSchema = z.object({
  replicas: z.number().int().min(0).default(1),
  // 0 would be Redis WAIT's "block forever": a confirmed publish always ends.
  timeout: z.number().finite().positive().default(DEFAULT_CONFIRM_TIMEOUT),
});

/**
 * Validates a `confirm` option; undefined when it asks for nothing (absent, `false`, or
 * `replicas: 0`).
 * @throws ConfigurationError naming `confirm` or the setting at fault (did-you-mean for unknown names).
 */
export function parseConfirm(value: ConfirmOption | undefined, context: string): PublishConfirm | undefined {
  if (value === undefined || value === false) return undefined;
  const settings = value === true ? {} : value;
  if (typeof settings === 'object' && settings !== null) CONFIRM_NAMES.check(settings, `${context} confirm`);
  const parsed = parseOptions(z.object({ confirm: confirmSchema }), { confirm: settings }, context);
  return parsed.confirm.replicas === 0 ? undefined : parsed.confirm;
}

/**
 * Validates the options of `channel.basicPublish` (for transports implementing it); resolves to
 * the confirmation they ask for.
 * @throws ConfigurationError for an unknown name or a bad `confirm`.
 */
export function parseBasicPublishOptions(options: BasicPublishOptions | undefined): PublishConfirm | undefined {
  if (options === undefined) return undefined;
  BASIC_PUBLISH_NAMES.check(options, 'basicPublish');
  return parseConfirm(options.confirm, 'basicPublish');
}
