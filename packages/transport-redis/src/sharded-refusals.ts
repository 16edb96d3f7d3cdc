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

