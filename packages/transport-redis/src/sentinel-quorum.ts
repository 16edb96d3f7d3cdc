/**
 * Kombu's `min_other_sentinels` (redis-py's `check_master_state`): a sentinel's answer about the
 * master is taken only if that sentinel sees at least this many other sentinels and does not
 * consider the master down, so a sentinel cut off from its peers (which may hold a stale view)
 * cannot send clients to the wrong node. ioredis asks `SENTINEL GET-MASTER-ADDR-BY-NAME` alone;
 * this connector first asks the same sentinel `SENTINEL MASTER <name>` and refuses a sentinel
 * that fails the check, so ioredis moves on to the next one. Used only when the option is > 0.
 */
import { SentinelConnector, type Redis, type SentinelConnectionOptions } from 'ioredis';

/** The one step of ioredis's connector where a sentinel is asked for the master (private in its types). */
interface MasterResolver {
  resolveMaster(client: Redis): Promise<unknown>;
}

/** Field/value pairs of a `SENTINEL MASTER` reply as a map. */
function pairs(reply: unknown): Map<string, string> {
  const flat = Array.isArray(reply) ? reply.map(String) : [];
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i] as string, flat[i + 1] as string);
  return map;
}

export function quorumConnector(minOtherSentinels: number): new (options: unknown) => SentinelConnector {
  return class QuorumSentinelConnector extends SentinelConnector {
    constructor(options: unknown) {
      super(options as SentinelConnectionOptions);
      const resolver = this as unknown as MasterResolver;
      const resolveMaster = resolver.resolveMaster.bind(this);
      const name = (options as SentinelConnectionOptions).name ?? '';
      resolver.resolveMaster = async (client: Redis) => {
        const state = pairs(await client.call('SENTINEL', 'MASTER', name));
        const others = Number(state.get('num-other-sentinels') ?? 0);
        const flags = state.get('flags') ?? '';
        if (others < minOtherSentinels) {
          throw new Error(`the sentinel sees ${others} other sentinels, fewer than minOtherSentinels (${minOtherSentinels})`);
        }
        if (/s_down|o_down/.test(flags)) throw new Error(`the sentinel considers master ${name} down (${flags})`);
        return resolveMaster(client);
      };
    }
  };
}
