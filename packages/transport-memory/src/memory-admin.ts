/**
 * The admin hooks of a memory:// broker (`transport.admin` is `VirtualAdmin` over these): the
 * same views the Redis transport gives. Every step is synchronous on the broker, so each is atomic.
 */
import type { DeadLetterEntry as AdminDeadLetter } from '@kelp/core';
import { throwIfAborted } from '@kelp/core';
import { type AdminStorage, type RestoredMessage, planRestore } from '@kelp/virtual';
import { memoryMessageHooks } from './memory-admin-messages.js';
import type { DeadLetterEntry, MemoryBroker } from './memory-broker.js';

export interface MemoryAdminContext {
  readonly broker: MemoryBroker;
  /** Seconds; the default threshold of restore. */
  readonly visibilityTimeout: number;
}

/** The admin hooks on `broker`; a dead letter's handle is its entry in the broker's list. */
export function memoryAdminStorage({ broker, visibilityTimeout }: MemoryAdminContext): AdminStorage<DeadLetterEntry> {
  return {
    ...memoryMessageHooks(broker),
    visibilityTimeout,
    now: () => broker.clock(),
    bindings: async (exchange) => broker.getTable(exchange),
    declaredType: (exchange) => broker.state.exchanges.get(exchange)?.type,
    exchangeNames: async () => new Set([...broker.state.exchanges.keys(), ...broker.boundExchanges()]),
    queueNames: async () => [...broker.queueNames(), ...broker.deadLetterQueues(), ...broker.delayedQueues()],
    queueDepth: async (queue) => {
      const nextDueAt = broker.nextDueAt(queue);
      return {
        steps: broker.stepSizes(queue),
        deadLetters: broker.deadLettered(queue).length,
        dropped: broker.droppedCounts(queue),
        delayed: broker.delayedCount(queue),
        ...(nextDueAt === undefined ? {} : { nextDueAt }),
      };
    },
    unackedMessages: async () =>
      broker.unackedEntries().map(([, entry]) => ({ exchange: entry.exchange, routingKey: entry.routingKey, since: entry.deliveredAt })),
    unackedTotal: async () => broker.unackedCount,

    async restoreExpired(request) {
      // Newest-expired first and each to the head of its queue, so the oldest is next in line.
      const expired = broker
        .unackedEntries()
        .filter(([, entry]) => entry.deliveredAt <= request.ceiling)
        .sort(([, a], [, b]) => b.deliveredAt - a.deliveredAt);
      const moved: RestoredMessage[] = [];
      for (const [tag, entry] of expired) {
        throwIfAborted(request.signal);
        const queues = await request.route(entry.exchange, entry.routingKey);
        const decision = planRestore({ exchange: entry.exchange, routingKey: entry.routingKey, queues }, request.queue);
        if (decision.action === 'dead-letter') {
          if (request.dryRun || broker.deadLetterUnacked(tag, decision.queue, decision.reason)) {
            moved.push({ status: 'dead-lettered', queues: [decision.queue] });
          }
        } else if (decision.action === 'restore') {
          if (request.dryRun || (await broker.restore(tag, false, async () => decision.queues)).status === 'restored') {
            moved.push({ status: 'restored', queues: decision.queues });
          }
        }
      }
      return moved;
    },

    async deadLetters(queue, options) {
      throwIfAborted(options.signal);
      const all = broker.deadLettered(queue);
      return all.slice(0, Math.max(0, options.limit ?? all.length)).map((stored) => ({ entry: adminEntry(queue, stored), handle: stored }));
    },

    moveDeadLetter: async (queue, handle, envelope) => broker.requeueDeadLetter(queue, handle, envelope.json, envelope.priority),

    delayed: {
      countDue: async (nowMs) => broker.delayedQueues().reduce((sum, queue) => sum + broker.dueCount(queue, nowMs), 0),
      moveDue: async (nowMs) => broker.moveDue(nowMs, Number.MAX_SAFE_INTEGER).moved,
    },
  };
}

function adminEntry(queue: string, stored: DeadLetterEntry): AdminDeadLetter {
  const deliveryTag = tagOf(stored.payload);
  return {
    queue,
    reason: stored.reason,
    at: stored.at,
    raw: stored.payload,
    rawEncoding: 'utf8',
    ...(deliveryTag === undefined ? {} : { deliveryTag }),
  };
}

function tagOf(payload: string): string | undefined {
  try {
    const tag = (JSON.parse(payload) as { properties?: { delivery_tag?: unknown } }).properties?.delivery_tag;
    return typeof tag === 'string' ? tag : undefined;
  } catch {
    return undefined;
  }
}
