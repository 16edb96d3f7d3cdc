/**
 * `Binding`: one (exchange, routing key, arguments) route into a queue, for queues bound to
 * several exchanges or keys (`new Queue('q', { bindings: [...] })`).
 */
import type { Exchange } from './exchange.js';

export class Binding {
  readonly exchange: Exchange;
  readonly routingKey: string;
  readonly arguments: Record<string, unknown> | undefined;

  constructor(exchange: Exchange, routingKey = '', args?: Record<string, unknown>) {
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.arguments = args;
  }

  toString(): string {
    return `${this.exchange.name}->${this.routingKey}`;
  }
}
