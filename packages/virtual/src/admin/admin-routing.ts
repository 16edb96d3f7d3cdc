/**
 * Routing as an operator tool sees it. The tool declares nothing itself, and Redis keeps no
 * exchange types (Kombu stores only binding sets), so an exchange without a declaration routes as
 * topic when any of its bindings carries a pattern, else as direct.
 */
import type { ExchangeType } from '@kelp/core';
import { type BindingRow, routeTable } from '../exchange.js';
import { TopicPatternCache } from '../topic.js';
import { fallbackQueue } from './restore-plan.js';

/** The bindings and (where stored) declared types an admin routes with. */
export interface RoutingSource {
  bindings(exchange: string): Promise<readonly BindingRow[]>;
  /** The declared type, when the transport keeps declarations; undefined otherwise. */
  declaredType(exchange: string): ExchangeType | undefined;
}

/** The type a binding table implies when nobody declared the exchange. */
export function impliedExchangeType(rows: readonly BindingRow[]): 'topic' | 'direct' {
  return rows.some((row) => row.pattern !== '') ? 'topic' : 'direct';
}

/**
 * Routes for the span of one admin operation: each exchange's table is read once, so a restore
 * of many messages to one exchange costs one read.
 */
export class AdminRouter {
  private readonly tables = new Map<string, Promise<readonly BindingRow[]>>();
  private readonly topics = new TopicPatternCache();

  constructor(private readonly source: RoutingSource) {}

  /** The queues a message published to `exchange` with `routingKey` goes to now. */
  async route(exchange: string, routingKey: string): Promise<string[]> {
    if (exchange === '') return routingKey === '' ? [] : [routingKey];
    let table = this.tables.get(exchange);
    if (!table) {
      table = this.source.bindings(exchange);
      this.tables.set(exchange, table);
    }
    const rows = await table;
    const type = this.source.declaredType(exchange) ?? impliedExchangeType(rows);
    return routeTable(type, rows, routingKey, this.topics);
  }

  /** The queues an unacked message is counted under: its route, else the queue its key names. */
  async ownersOf(exchange: string, routingKey: string): Promise<string[]> {
    const queues = await this.route(exchange, routingKey);
    return queues.length > 0 ? queues : [fallbackQueue(exchange, routingKey)];
  }
}
