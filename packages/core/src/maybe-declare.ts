/**
 * `maybeDeclare`: declare an exchange or queue once per connection
 * (docs/wire-format.md#declarations). Declaring costs a round trip (queue_declare is an LLEN
 * pipeline on Redis), and a producer would otherwise pay it on every publish.
 */
import type { Exchange } from './exchange.js';
import type { Queue } from './queue.js';
import type { Channel } from './transport.js';

export type Declarable = Exchange | Queue;

/** Keyed by the owner (a connection, or a channel used on its own) so caches die with it. */
const declared = new WeakMap<object, Set<string>>();
const inFlight = new WeakMap<object, Map<string, Promise<void>>>();

/** The cache keys (`E|name`, `Q|name`) declared through `owner`. */
export function declaredEntities(owner: object): Set<string> {
  let set = declared.get(owner);
  if (!set) {
    set = new Set();
    declared.set(owner, set);
  }
  return set;
}

/**
 * Forgets what `owner` declared. Call it after a reconnect to a broker that may have lost state
 * (the virtual transports keep exchange types in process memory, so a new transport starts empty).
 */
export function forgetDeclarations(owner: object): void {
  declared.delete(owner);
  inFlight.delete(owner);
}

/**
 * Declares `entity` on `channel` unless `owner` (default: the channel) already declared it.
 * Auto-delete and expiring entities are declared every time. Resolves with true when it declared.
 * Concurrent calls for the same entity share one declaration.
 */
export async function maybeDeclare(entity: Declarable, channel: Channel, owner: object = channel): Promise<boolean> {
  if (!entity.canCacheDeclaration) {
    await entity.declare({ channel });
    return true;
  }
  const key = entity.cacheKey;
  const cache = declaredEntities(owner);
  if (cache.has(key)) return false;
  let pending = inFlight.get(owner);
  if (!pending) {
    pending = new Map();
    inFlight.set(owner, pending);
  }
  const running = pending.get(key);
  if (running) {
    await running;
    return false;
  }
  const declaration = (async () => {
    await entity.declare({ channel });
  })();
  pending.set(key, declaration);
  try {
    await declaration;
    cache.add(key);
    return true;
  } finally {
    pending.delete(key);
  }
}
