/**
 * What an operator restore does with one expired unacked message, decided once for every
 * transport: back to the queues it routes to now, or, when it routes nowhere any more, to the
 * dead-letter list of the queue its routing key names (never dropped, unlike Kombu).
 */

/** The reason stored with a restored message that found no queue. */
export function noRouteReason(exchange: string, routingKey: string): string {
  return `no route on restore: exchange '${exchange}' routing key '${routingKey}'`;
}

/** Where an unrouted message is dead-lettered: its routing key's queue, else its exchange's. */
export function fallbackQueue(exchange: string, routingKey: string): string {
  return routingKey || exchange;
}

export type RestoreDecision =
  | { action: 'restore'; queues: readonly string[] }
  | { action: 'dead-letter'; queue: string; reason: string }
  /** Outside the queue the operator asked for: left unacked. */
  | { action: 'skip' };

export interface RoutedEntry {
  exchange: string;
  routingKey: string;
  /** The queues the entry routes to now. */
  queues: readonly string[];
}

/** The decision for one entry; `only` limits the restore to one queue. */
export function planRestore(entry: RoutedEntry, only?: string): RestoreDecision {
  if (entry.queues.length === 0) {
    const queue = fallbackQueue(entry.exchange, entry.routingKey);
    if (only !== undefined && only !== queue) return { action: 'skip' };
    return { action: 'dead-letter', queue, reason: noRouteReason(entry.exchange, entry.routingKey) };
  }
  if (only !== undefined && !entry.queues.includes(only)) return { action: 'skip' };
  return { action: 'restore', queues: entry.queues };
}
