/**
 * kelp: Kombu-style messaging for Node.js.
 *
 * kelp brings Python Kombu's model to TypeScript: a `Connection` chosen by URL, `Exchange`s
 * (direct, topic, fanout), `Queue`s and bindings, `Producer.publish`, `Consumer`s with callbacks
 * or `for await`, acknowledgements with requeue and restore, prefetch limits, priorities,
 * pluggable serializers (json, msgpack, text, binary) and compression (zlib, brotli).
 *
 * This is the package applications install. Importing it registers the built-in transports on
 * core's default transport registry:
 * - `memory://[name]`: the embedded in-process broker (tests, demos, single-process apps);
 * - `redis://`, `rediss://` and the other Redis schemes: a transport wire-compatible with Python
 *   Kombu's Redis transport, so kelp and Celery/Kombu processes can share queues.
 *
 * ```ts
 * // Connection, Exchange and Queue are named exports of this package.
 * await using conn = new Connection('redis://localhost:6379/0');
 * const tasks = new Queue('tasks', { exchange: new Exchange('work'), routingKey: 'tasks' });
 * await conn.Producer().publish({ job: 1 }, { exchange: 'work', routingKey: 'tasks', declare: [tasks] });
 * for await (const message of conn.Consumer(tasks, { prefetchCount: 10 })) {
 *   handle(message.payload);
 *   await message.ack();
 * }
 * ```
 *
 * Celery's API comes with it (docs/celery.md): `new Celery({ broker, backend })`, `sendTask`,
 * `app.task(name).delay()`, `AsyncResult.get()`, and `app.worker({ tasks })` running Node functions
 * for tasks Python sends.
 *
 * Durations in the messaging API are in seconds, as in Kombu; the event `Hub` uses milliseconds.
 * Other transports register themselves with {@link registerTransport}, and queue orders for the
 * `queueOrderStrategy` option with {@link registerQueueOrderStrategy}; those registries are the
 * only process-wide state kelp has, and users may extend them.
 */
import { registerTransport } from '@kelp/core';
import { createMemoryTransport } from '@kelp/transport-memory';
import { createRedisTransport } from '@kelp/transport-redis';

export * from '@kelp/celery';
export * from '@kelp/core';
export * from '@kelp/hub';
export {
  compileTopicPattern,
  matchTopic,
  registerQueueOrderStrategy,
  type QueueCycle,
  type QueueCycleFactory,
} from '@kelp/virtual';

/** The `memory://` definition registered on import (its `brokers` map is handy in tests). */
export const memoryTransport = createMemoryTransport();
/** The redis://, rediss://, redis+socket://, valkey://, valkeys:// and unix:// definition. */
export const redisTransport = createRedisTransport();

registerTransport(memoryTransport);
registerTransport(redisTransport);
