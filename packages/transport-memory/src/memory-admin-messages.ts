/**
 * The memory:// admin hooks that read and change waiting messages, unacked entries and dead
 * letters one at a time (the dashboard's operations). Every step runs synchronously on the
 * broker, so each is atomic with respect to consumers in the same process.
 */
import type { AdminStorage, RestoredMessage } from '@kelp/virtual';
import { planRestore } from '@kelp/virtual';
import type { DeadLetterEntry, MemoryBroker } from './memory-broker.js';

type MessageHooks = Pick<
  AdminStorage<DeadLetterEntry>,
  'removeDeadLetter' | 'stepLength' | 'waitingRange' | 'removeWaiting' | 'moveWaiting' | 'purgeQueue' | 'unackedRange' | 'restoreTag'
>;

/** Memory stores envelopes as text: they are always UTF-8. */
const text = (raw: string) => ({ raw, rawEncoding: 'utf8' as const });

export function memoryMessageHooks(broker: MemoryBroker): MessageHooks {
  return {
    removeDeadLetter: async (queue, entry) => broker.removeDeadLetter(queue, entry),

    stepLength: async (queue, step) => broker.stepList(queue, step)?.length ?? 0,

    async waitingRange(queue, step, { order, offset, count }) {
      const list = broker.stepList(queue, step);
      if (!list) return [];
      const out = [];
      for (let i = offset; i < offset + count && i < list.length; i++) {
        // The deque is next-to-consume first; newest first counts from its other end.
        const item = list.at(order === 'oldest' ? i : list.length - 1 - i);
        if (item !== undefined) out.push(text(item));
      }
      return out;
    },

    async removeWaiting(queue, step, message) {
      const list = broker.stepList(queue, step);
      if (!list) return false;
      for (let i = list.length - 1; i >= 0; i--) {
        if (list.at(i) === message.raw) {
          list.removeAt(i);
          return true;
        }
      }
      return false;
    },

    async moveWaiting(from, to, step, messages) {
      const list = broker.stepList(from, step);
      let moved = 0;
      for (const { stored, rewritten } of messages) {
        // Not next in line any more (consumed): skipped, as the Redis script does.
        if (!list || list.at(0) !== stored.raw) continue;
        broker.declareQueue(to);
        // Stored first, taken from the source after: a target that refuses it (a full queue
        // with reject-publish) throws here and the message stays where it was. Kept in the same
        // priority step: the step's own number maps back to it.
        broker.put(to, rewritten.raw, step);
        list.popFront();
        moved++;
      }
      return moved;
    },

    purgeQueue: async (queue) => broker.purge(queue),

    async unackedRange(offset, count) {
      const entries = broker.unackedEntries().sort(([, a], [, b]) => a.deliveredAt - b.deliveredAt);
      return {
        total: entries.length,
        records: entries.slice(offset, offset + count).map(([tag, entry]) => ({
          tag,
          envelope: text(entry.envelope),
          exchange: entry.exchange,
          routingKey: entry.routingKey,
          since: entry.deliveredAt,
        })),
      };
    },

    async restoreTag(tag, route): Promise<RestoredMessage | undefined> {
      const entry = broker.unackedEntry(tag);
      if (!entry) return undefined;
      const decision = planRestore({ ...entry, queues: await route(entry.exchange, entry.routingKey) });
      if (decision.action === 'dead-letter') {
        return broker.deadLetterUnacked(tag, decision.queue, decision.reason) ? { status: 'dead-lettered', queues: [decision.queue] } : undefined;
      }
      if (decision.action !== 'restore') return undefined;
      const outcome = await broker.restore(tag, false, async () => decision.queues);
      return outcome.status === 'restored' ? { status: 'restored', queues: outcome.queues } : undefined;
    },
  };
}
