/**
 * The key names of the sharded cluster layout as a transport with Kombu's defaults (priority steps,
 * unacked key names, fanout prefix, db 0) writes them, for tests that read or write keys directly.
 */
import { RedisKeys } from '../../../packages/transport-redis/src/keys.js';

/** Kombu's priority separator, "\x06\x16". */
export const SEP = '\x06\x16';

export function shardedKeys(globalKeyprefix = ''): RedisKeys {
  return new RedisKeys({
    sep: SEP,
    prioritySteps: [0, 3, 6, 9],
    globalKeyprefix,
    unackedKey: 'unacked',
    unackedIndexKey: 'unacked_index',
    unackedMutexKey: 'unacked_mutex',
    fanoutPrefix: true,
    fanoutPatterns: false,
    db: 0,
    layout: 'sharded',
  });
}
