import { KelpError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import type { ClusterNodePool } from '../src/cluster-node-pool.js';
import { shardedKeys } from '../../../test/cluster/support/sharded-keys.js';
import { ShardedDelayed } from '../src/sharded-delayed.js';

const keys = shardedKeys('p:');

/**
 * One fake master holding every queue's delayed due times, answering the `delay` and `moveDue`
 * scripts and SCAN as Redis would for the keys ShardedDelayed names; `hold` makes a move wait.
 */
class FakeMaster {
  readonly due = new Map<string, number[]>();
  scans = 0;
  readonly probes: string[] = [];
  readonly moves: { queue: string; now: number }[] = [];
  failNext = new Set<string>();
  hold: Promise<void> | undefined;

  store(queue: string, dueAt: number): void {
    this.due.set(queue, [...(this.due.get(queue) ?? []), dueAt].sort((a, b) => a - b));
  }

  kelpDelay(_numkeys: number, index: string, _set: string, _args: string, dueAt: string): Promise<number> {
    expect(index).toBe(keys.delayedIndexOf(this.queueOf(index)));
    this.store(this.queueOf(index), Number(dueAt));
    return Promise.resolve(1);
  }

  async kelpMoveDue(...args: unknown[]): Promise<[number, string]> {
    const queue = this.queueOf(String(args[2]));
    const now = Number(args[4]);
    const max = Number(args[5]);
    expect(args[10]).toBe('1');
    this.moves.push({ queue, now });
    if (this.failNext.delete(queue)) throw new Error('ERR Script attempted to access a non local key in a cluster node');
    const left = this.due.get(queue) ?? [];
    const moved = left.filter((at) => at <= now).slice(0, max);
    const rest = left.slice(moved.length);
    if (rest.length > 0) this.due.set(queue, rest);
    else this.due.delete(queue);
    if (this.hold) await this.hold;
    return [moved.length, rest.length > 0 ? String(rest[0]) : ''];
  }

  zscore(index: string, member: string): Promise<string | null> {
    this.probes.push(index);
    const queue = this.queueOf(index);
    expect(member).toBe(keys.shardName(queue));
    const first = this.due.get(queue)?.[0];
    return Promise.resolve(first === undefined ? null : String(first));
  }

  scan(): Promise<[string, string[]]> {
    this.scans++;
    return Promise.resolve(['0', [...this.due.keys()].map((queue) => keys.delayedIndexOf(queue))]);
  }

  private queueOf(index: string): string {
    return index.slice(keys.delayedIndex.length + 2, -1);
  }
}

/** A ShardedDelayed over `master` alone; `scanIntervalMs: undefined` keeps the default interval. */
function delayedOn(
  master: FakeMaster,
  options: { scanIntervalMs?: number | undefined; consumedQueues?: () => readonly string[]; reportError?: (error: unknown) => void } = { scanIntervalMs: 1000 },
): ShardedDelayed {
  const { scanIntervalMs, consumedQueues, reportError } = options;
  const pool = {
    onSlot: <T>(_slot: number, send: (client: never) => Promise<T>) => send(master as never),
    everyMaster: () => Promise.resolve([master]),
    forSlot: () => Promise.resolve(master),
  } as unknown as ClusterNodePool;
  return new ShardedDelayed({ pool, keys, redactedUrl: 'rediscluster://h:1', ...(scanIntervalMs === undefined ? {} : { scanIntervalMs }), ...(consumedQueues ? { consumedQueues } : {}), ...(reportError ? { reportError } : {}) });
}

describe('ShardedDelayed (the sharded mover finds queues by scan and by its own stores)', () => {
  it('finds a queue another process stored in by a scan, at most once per scan interval', async () => {
    const master = new FakeMaster();
    const delayed = delayedOn(master);
    master.store('a', 100);
    expect(await delayed.moveDue(1000, 500)).toEqual({ moved: 1, nextDueAt: undefined });
    master.store('b', 1100);
    // Within the interval of the last scan: 'b' is not known yet.
    expect(await delayed.moveDue(1200, 500)).toEqual({ moved: 0, nextDueAt: undefined });
    expect(master.scans).toBe(1);
    expect(await delayed.moveDue(2000, 500)).toEqual({ moved: 1, nextDueAt: undefined });
    expect(master.scans).toBe(2);
  });

  it('moves the queues of its own stores when due without a scan, and reports the earliest due time', async () => {
    const master = new FakeMaster();
    const delayed = delayedOn(master, { scanIntervalMs: 60_000 });
    // The first call scans (nothing is stored yet); the stores below are known without one.
    expect(await delayed.moveDue(0, 500)).toEqual({ moved: 0, nextDueAt: undefined });
    await delayed.putDelayed(['a', 'b', 'a'], '{}', 0, 5000);
    await delayed.putDelayed(['b'], '{}', 0, 9000);
    expect(await delayed.moveDue(1000, 500)).toEqual({ moved: 0, nextDueAt: 5000 });
    expect(master.moves).toEqual([]);
    expect(await delayed.moveDue(5000, 500)).toEqual({ moved: 2, nextDueAt: 9000 });
    expect(await delayed.moveDue(9000, 500)).toEqual({ moved: 1, nextDueAt: undefined });
    expect(master.scans).toBe(1);
    expect(master.moves.map((move) => move.queue).sort()).toEqual(['a', 'b', 'b']);
  });

  it('keeps a queue known when this process stored in it while its move was in flight', async () => {
    const master = new FakeMaster();
    const delayed = delayedOn(master, { scanIntervalMs: 60_000 });
    await delayed.putDelayed(['a'], '{}', 0, 100);
    let release: () => void = () => undefined;
    master.hold = new Promise((resolve) => (release = resolve));
    const moving = delayed.moveDue(1000, 500);
    await new Promise((resolve) => setImmediate(resolve));
    // Stored after the move script ran (it saw only the first message), before its reply arrived.
    await delayed.putDelayed(['a'], '{}', 0, 7000);
    release();
    master.hold = undefined;
    expect(await moving).toEqual({ moved: 1, nextDueAt: 7000 });
    expect(await delayed.moveDue(7000, 500)).toEqual({ moved: 1, nextDueAt: undefined });
  });

  it('moves the other queues when one fails, keeps the failed one, and throws its error after', async () => {
    const master = new FakeMaster();
    const delayed = delayedOn(master, { scanIntervalMs: 60_000 });
    await delayed.putDelayed(['a'], '{}', 0, 100);
    await delayed.putDelayed(['b'], '{}', 0, 200);
    master.failNext.add('a');
    const error = await delayed.moveDue(1000, 500).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KelpError);
    expect((error as Error).message).toMatch(/delayed move failed on rediscluster:\/\/h:1: .*non local key/);
    expect(master.due.has('b')).toBe(false);
    // The failed queue is tried again a sweep interval later, not at once.
    expect(await delayed.moveDue(1001, 500)).toEqual({ moved: 0, nextDueAt: 2000 });
    expect(await delayed.moveDue(2000, 500)).toEqual({ moved: 1, nextDueAt: undefined });
    expect(master.due.size).toBe(0);
  });

  it('reads the index of each consumed queue every sweep, and scans every master only once a scan interval', async () => {
    const master = new FakeMaster();
    let consumed: string[] = [];
    const delayed = delayedOn(master, { consumedQueues: () => consumed });
    expect(await delayed.moveDue(0, 500)).toEqual({ moved: 0, nextDueAt: undefined });
    expect(master.scans).toBe(1);
    // Another process delays messages for a queue this one consumes, and for one nobody consumes.
    master.store('consumed', 1500);
    master.store('elsewhere', 1500);
    consumed = ['consumed', 'consumed'];
    expect(await delayed.moveDue(1000, 500)).toEqual({ moved: 0, nextDueAt: 1500 });
    expect(master.probes).toEqual([keys.delayedIndexOf('consumed')]);
    // Known now: moved when due, without another read of its index.
    expect(await delayed.moveDue(1600, 500)).toEqual({ moved: 1, nextDueAt: undefined });
    expect(master.probes).toHaveLength(1);
    expect(master.due.has('elsewhere')).toBe(true);
    // The queue nobody consumes waits for the next scan, DELAYED_SCAN_INTERVAL_MS after the first.
    expect(await delayed.moveDue(29_000, 500)).toMatchObject({ moved: 0 });
    expect(master.scans).toBe(1);
    expect(await delayed.moveDue(30_000, 500)).toEqual({ moved: 1, nextDueAt: undefined });
    expect(master.scans).toBe(2);
    expect(master.due.size).toBe(0);
  });

  it('learns of an earlier message another process stored in a queue it knows with a later due time', async () => {
    const master = new FakeMaster();
    const delayed = delayedOn(master, { consumedQueues: () => ['q', 'other'] });
    expect(await delayed.moveDue(0, 500)).toMatchObject({ moved: 0 });
    // This process delays a message by an hour; another (no mover of its own) one by 2 s.
    await delayed.putDelayed(['q'], '{}', 0, 3_600_000);
    master.store('q', 2000);
    expect(await delayed.moveDue(1000, 500)).toEqual({ moved: 0, nextDueAt: 2000 });
    expect(await delayed.moveDue(2000, 500)).toEqual({ moved: 1, nextDueAt: 3_600_000 });
    // A queue nobody here consumes, known with a later time: the next scan visits it anyway.
    await delayed.putDelayed(['far'], '{}', 0, 7_200_000);
    master.store('far', 5000);
    expect(await delayed.moveDue(29_000, 500)).toMatchObject({ moved: 0 });
    expect(await delayed.moveDue(30_000, 500)).toEqual({ moved: 1, nextDueAt: 3_600_000 });
  });

  it('with a reporter, reports a failed queue and still returns what the others moved', async () => {
    const master = new FakeMaster();
    const reported: unknown[] = [];
    const delayed = delayedOn(master, { scanIntervalMs: 60_000, reportError: (error) => reported.push(error) });
    await delayed.putDelayed(['a'], '{}', 0, 100);
    await delayed.putDelayed(['b'], '{}', 0, 200);
    master.failNext.add('a');
    expect(await delayed.moveDue(1000, 500)).toEqual({ moved: 1, nextDueAt: 2000 });
    expect(reported).toHaveLength(1);
    expect((reported[0] as Error).message).toMatch(/delayed move failed on rediscluster:\/\/h:1: .*non local key/);
    expect(await delayed.moveDue(2000, 500)).toEqual({ moved: 1, nextDueAt: undefined });
  });
});
