/**
 * Queue arguments as declared in this process, per broker state (like exchange types, Kombu keeps
 * declarations process-local). queueDeclare (channel-declarations.ts) records them and the
 * dead-letter policy (channel-admission.ts) reads them; a module of their own, shared by both, and
 * not part of the package's API. A WeakMap so the state object stays the owner.
 */
import type { BrokerState } from './exchange.js';

const declaredArguments = new WeakMap<BrokerState, Map<string, Record<string, unknown>>>();

/** A declaration without arguments (e.g. a producer's re-declare) keeps what an earlier one set. */
export function rememberQueueArguments(state: BrokerState, queue: string, args: Record<string, unknown> | undefined): void {
  if (args === undefined || Object.keys(args).length === 0) return;
  let map = declaredArguments.get(state);
  if (!map) {
    map = new Map();
    declaredArguments.set(state, map);
  }
  map.set(queue, { ...args });
}

export function queueArguments(state: BrokerState, queue: string): Record<string, unknown> | undefined {
  return declaredArguments.get(state)?.get(queue);
}
