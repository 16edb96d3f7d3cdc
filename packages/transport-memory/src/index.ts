/**
 * @kelp/transport-memory: the embedded `memory://` transport, for tests, demos and single-process
 * apps. Kombu's virtual hooks on in-process data (like `kombu/transport/memory.py`).
 *
 * Supports: direct, topic (Kombu pattern semantics) and fanout exchanges (fanout is stored in
 * every bound queue); priorities 0-9 in sub-lists (0 consumed first, as on Redis); acks, rejects
 * and requeues with an unacked store; visibility-timeout restore sweeps; dead-letter lists for
 * malformed messages; `deadletterQueue` for unroutable publishes. Nothing survives the process,
 * and there are no replicas: a publish `confirm` asking for one is refused before it is stored.
 *
 * URL forms: `memory://` (the broker named `default`) and `memory://<name>`. Connections made
 * through one transport definition (see {@link createMemoryTransport}) to the same name share a
 * broker; state is owned by the definition, never by module globals.
 *
 * Transport options (camelCase or snake_case):
 * - `visibilityTimeout` (seconds, 3600): unacked messages older than this are restored by the sweep.
 * - `unackedRestoreInterval` (seconds, 10): period of the restore sweep while registered on a Hub.
 * - `queueOrderStrategy` (`round_robin` | `priority` | `sorted` | registered name): queue polling order.
 * - `prioritySteps` (`[0, 3, 6, 9]`): priority sub-lists; fixed by the first connection to a broker.
 * - `deadletterQueue`: where unroutable publishes go (otherwise they are reported `unroutable`).
 * - `pollBatchSize` (100): most messages one poll takes for a channel with unlimited prefetch.
 * - `maxMessageBytes`: larger messages are dead-lettered unread.
 * - `deadLetterQueues` (`['q']` or `'*'`) / queue argument `x-dead-letter: true`: rejects without
 *   requeue, and deliveries past `maxRedeliveries` (queue argument `x-delivery-limit`), go to the
 *   queue's dead-letter list instead of being dropped / redelivered again.
 *
 * `transport.admin` gives inspect, restore and dead-letter tools on the broker (`VirtualAdmin` over the broker).
 */
export type {
  DeadLetterEntry as MemoryDeadLetter,
  MemoryBroker,
  MemoryBrokerOptions,
  MemoryUnackedEntry,
} from './memory-broker.js';
export {
  createMemoryTransport,
  MEMORY_OPTION_NAMES,
  type MemoryTransportDefinition,
  MemoryTransport,
} from './memory-transport.js';
