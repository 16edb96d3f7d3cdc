/**
 * The write side of the sharded cluster layout (keys.ts): each queue on the master of its own
 * slot, reached through the per-master pool (cluster-node-pool.ts).
 *
 * Routing reads the exchange's binding set on its master at every publish (`SMEMBERS`), never a
 * cached copy, then pushes to each destination queue on that queue's master with the existing
 * route-and-push script in its single-queue form (one PushBatcher per master, so a master's
 * pushes of one tick still travel in one call). So a publish cannot miss a queue whose binding
 * (`SADD`, from any process) was answered before the publish was sent: the set is one key on one
 * master, which serves its commands in order. What it gives up against single-slot mode: the
 * lookup and the pushes are no longer one atomic step, and a publish costs one more round trip.
 *
 * Fanout uses sharded pub/sub: `SPUBLISH` on the exchange's channel, on the master of the
 * channel's slot (subscribers `SSUBSCRIBE` there; there is no pattern form).
 */
import { QueueLimitRefusal, type BindingRow, type FanoutPublish, type HeadPut, type OneStepRouting } from '@kelp/virtual';
import type { Redis } from 'ioredis';
import type { ClusterNodePool } from './cluster-node-pool.js';
import { isClusterScriptRefusal, wrapRedisError } from './errors.js';
import type { RedisKeys } from './keys.js';
import { PushBatcher } from './push-batcher.js';

/** Where a ShardedPublishing finds each slot's master connection: the pool, or a view of it (sharded-confirm.ts). */
/** Where the writes go, and the slot map to reload when a node refuses a script's key. */
export type ShardedWriteTargets = Pick<ClusterNodePool, 'forSlot' | 'forKey' | 'refresh'>;

export class ShardedPublishing implements OneStepRouting, FanoutPublish, HeadPut {
  constructor(
    private readonly pool: ShardedWriteTargets,
    private readonly keys: RedisKeys,
    /** The broker URL without its password, for error messages. */
    private readonly redactedUrl: string,
    /**
     * One batcher per master connection: a master's pushes of one tick go in one script call.
     * Passed in when several publishings write on the same connections (sharded-confirm.ts).
     */
    private readonly batchers = new WeakMap<Redis, PushBatcher>(),
  ) {}

  /**
   * LPUSH to the queue's priority sub-list on its master, batched with that master's other pushes;
   * the script applies the queue's arguments there (TTL, length limits, x-expires), all on keys of
   * the queue's slot. A queue at its limit with reject-publish rejects with a QueueLimitRefusal
   * naming it.
   */
  async put(queue: string, envelopeJson: string, priority: number): Promise<void> {
    const client = await this.pool.forSlot(this.keys.queueSlot(queue));
    try {
      await this.batcherOf(client).push(this.keys.shardName(queue), this.stepSuffix(priority), envelopeJson);
    } catch (error) {
      // The script names the queue as its keys spell it (`{<q>}`); the caller knows it by name.
      if (error instanceof QueueLimitRefusal) throw new QueueLimitRefusal([], [queue]);
      throw error;
    }
  }

  /** RPUSH: back to the head of the queue (the next RPOP), on its master. */
  async putFront(queue: string, envelopeJson: string, priority: number): Promise<void> {
    const client = await this.pool.forSlot(this.keys.queueSlot(queue));
    await client.rpush(this.keys.queueKeyForPriority(queue, priority), envelopeJson);
  }

  /** A direct-exchange publish: every queue whose binding key equals `routingKey`, de-duplicated in table order. */
  putDirect(exchange: string, routingKey: string, envelopeJson: string, priority: number): Promise<string[]> {
    return this.putRouted(exchange, envelopeJson, priority, (table) => {
      const queues = new Set<string>();
      for (const row of table) if (row.routingKey === routingKey) queues.add(row.queue);
      return [...queues];
    });
  }

  /**
   * Reads the binding set now, routes with `route`, and pushes to each queue on its master. Each
   * queue stores or refuses on its own (length limits): the refusals are reported together, with
   * the queues that stored it, as one routed publish to a single slot reports them.
   */
  async putRouted(exchange: string, envelopeJson: string, priority: number, route: (table: readonly BindingRow[]) => string[]): Promise<string[]> {
    const bindingKey = this.keys.bindingKey(exchange);
    const members = await (await this.pool.forKey(bindingKey)).smembers(bindingKey);
    const rows: BindingRow[] = [];
    for (const member of members) {
      const row = this.keys.parseBindingMember(member);
      if (row) rows.push(row);
    }
    const queues = route(rows);
    const outcomes = await Promise.allSettled(queues.map((queue) => this.put(queue, envelopeJson, priority)));
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected' && !(outcome.reason instanceof QueueLimitRefusal));
    if (failed) throw failed.reason;
    const rejected = queues.filter((_, i) => outcomes[i]?.status === 'rejected');
    if (rejected.length > 0) throw new QueueLimitRefusal(queues.filter((queue) => !rejected.includes(queue)), rejected);
    return queues;
  }

  /** `SPUBLISH` on the exchange's shard channel, on the master of its slot; resolves with the receivers. */
  async putFanout(exchange: string, envelopeJson: string, routingKey: string): Promise<number> {
    const channel = this.keys.fanoutChannel(exchange, routingKey);
    const client = await this.pool.forKey(channel);
    return Number(await client.call('SPUBLISH', channel, envelopeJson));
  }

  private batcherOf(client: Redis): PushBatcher {
    let batcher = this.batchers.get(client);
    if (batcher === undefined) {
      batcher = new PushBatcher(client, this.keys.prefix, this.keys.sep, this.keys.queuePolicyNames(), (error) => {
        // A refusal inside the script's reply (one queue of a batched call) never reaches the
        // connection's reconnectOnError, which sees only whole-reply errors: the slot moved, so
        // the map is reloaded here and the application's retry goes to the new master.
        if (isClusterScriptRefusal(error)) this.pool.refresh().catch(() => undefined);
        return wrapRedisError(error, this.redactedUrl, 'lpush');
      });
      this.batchers.set(client, batcher);
    }
    return batcher;
  }

  private stepSuffix(priority: number): string {
    return this.keys.stepSuffix(this.keys.priorityStep(priority));
  }
}
