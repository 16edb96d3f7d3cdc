/**
 * The features the sharded cluster layout does not offer yet, refused with one wording: a
 * ConfigurationError naming the feature and the layout, thrown before anything is written, so a
 * message is never lost to a `CROSSSLOT` or "non local key" reply halfway through
 * (docs/redis-cluster.md#not-supported-in-the-sharded-layout-yet).
 */
import { ConfigurationError } from '@kelp/core';

/** `feature` is not supported in the sharded layout; `option` names what to change. */
export function shardedUnsupported(feature: string, option?: string): ConfigurationError {
  return new ConfigurationError(
    `${feature} is not supported in the sharded cluster layout (clusterLayout: 'sharded') yet; ` +
      "use it without that, or the single_slot layout with a hash tag in globalKeyprefix (e.g. '{kelp}:')",
    option === undefined ? undefined : { option },
  );
}

/** Queue arguments whose scripts write keys outside the queue's slot (global drop counters, the expiry touch). */
export const SHARDED_UNSUPPORTED_QUEUE_ARGUMENTS = ['x-max-length', 'x-max-length-bytes', 'x-expires'] as const;

/** Throws for a queue declaration with an argument the layout cannot apply. */
export function refuseUnsupportedQueueArguments(queue: string, args: Readonly<Record<string, unknown>> | undefined): void {
  for (const name of SHARDED_UNSUPPORTED_QUEUE_ARGUMENTS) {
    if (args?.[name] !== undefined) throw shardedUnsupported(`queue '${queue}': the queue argument ${name}`, `arguments.${name}`);
  }
}
