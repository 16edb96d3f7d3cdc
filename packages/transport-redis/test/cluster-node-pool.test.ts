import { OperationalError } from '@kelp/core';
import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import type { ClusterNodeAddress } from '../src/cluster-connector.js';
import { ClusterNodePool, EVERY_MASTER_MAP_MAX_AGE_MS, movedTarget, slotOwners } from '../src/cluster-node-pool.js';

const replyError = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

/** A CLUSTER SLOTS reply: three masters on 7000..7002, a replica each on 7003..7005. */
const THREE_MASTERS = [
  [0, 5460, ['127.0.0.1', 7000, 'a'], ['127.0.0.1', 7003, 'd']],
  [5461, 10922, ['127.0.0.1', 7001, 'b'], ['127.0.0.1', 7004, 'e']],
  [10923, 16383, ['127.0.0.1', 7002, 'c'], ['127.0.0.1', 7005, 'f']],
];

/** A pool over a scripted CLUSTER SLOTS answer; its "connections" are named stubs that record being closed. */
function pool(answers: unknown[][], seeds: ClusterNodeAddress[] = [{ host: '127.0.0.1', port: 7000 }]) {
  const asked: string[] = [];
  const closed: string[] = [];
  let reply: unknown[] = answers[0] ?? [];
  const instance = new ClusterNodePool({
    seeds,
    credentials: {},
    queryTimeoutMs: 100,
    connect: (node) => {
      const name = `${node.host}:${node.port}`;
      return { name, disconnect: () => closed.push(name) } as unknown as Redis;
    },
    query: async (node) => {
      asked.push(`${node.host}:${node.port}`);
      if (node.port === 6999) throw new Error('connect ECONNREFUSED');
      return reply;
    },
  });
  const nameOf = (client: Redis) => (client as unknown as { name: string }).name;
  return { instance, asked, closed, nameOf, answer: (next: unknown[]) => (reply = next) };
}

describe('slotOwners', () => {
  it('maps each range to its first member and names every dialable node', () => {
    const { ranges, nodes } = slotOwners(THREE_MASTERS);
    expect(ranges.map((r) => [r.start, r.end, r.master.port])).toEqual([[0, 5460, 7000], [5461, 10922, 7001], [10923, 16383, 7002]]);
    expect(nodes.map((n) => n.port)).toEqual([7000, 7003, 7001, 7004, 7002, 7005]);
  });

  it("reads an empty host as the host that was asked (a node never told its own address)", () => {
    const { ranges } = slotOwners([[0, 16383, ['', 7000, 'a']]], { host: '10.0.0.5', port: 7000 });
    expect(ranges.map((r) => r.master)).toEqual([{ host: '10.0.0.5', port: 7000 }]);
  });

  it('leaves a range unserved when its master cannot be dialled, rather than take the replica for it', () => {
    const { ranges } = slotOwners([[0, 10, ['?', 0, 'a'], ['127.0.0.1', 7003, 'd']]]);
    expect(ranges).toEqual([]);
  });
});

describe('movedTarget', () => {
  it('reads the slot and node of a MOVED reply and nothing else', () => {
    expect(movedTarget(replyError('MOVED 3999 127.0.0.1:6381'))).toEqual({ slot: 3999, node: { host: '127.0.0.1', port: 6381 } });
    expect(movedTarget(replyError('ASK 3999 127.0.0.1:6381'))).toBeUndefined();
    expect(movedTarget(new Error('MOVED 3999 127.0.0.1:6381'))).toBeUndefined();
  });
});

describe('ClusterNodePool', () => {
  it('opens one connection per master, and groups items by the master of their slot in their order', async () => {
    const { instance, nameOf } = pool([THREE_MASTERS]);
    const groups = await instance.group([1, 6000, 2, 12000, 5461], (slot) => slot);
    expect([...groups].map(([client, slots]) => [nameOf(client), slots])).toEqual([
      ['127.0.0.1:7000', [1, 2]],
      ['127.0.0.1:7001', [6000, 5461]],
      ['127.0.0.1:7002', [12000]],
    ]);
    expect(instance.connections()).toHaveLength(3);
    expect(nameOf(await instance.forSlot(3))).toBe('127.0.0.1:7000');
    expect(instance.connections()).toHaveLength(3);
  });

  it('asks the next seed when one is down, and shares one lookup among concurrent callers', async () => {
    const { instance, asked } = pool([THREE_MASTERS], [{ host: '127.0.0.1', port: 6999 }, { host: '127.0.0.1', port: 7001 }]);
    await Promise.all([instance.forSlot(0), instance.forSlot(6000), instance.forSlot(16000)]);
    expect(asked).toEqual(['127.0.0.1:6999', '127.0.0.1:7001']);
  });

  it('follows MOVED: the slot goes to the named node at once, the map is reloaded, and a node serving nothing is closed', async () => {
    const { instance, nameOf, closed, answer } = pool([THREE_MASTERS]);
    await instance.everyMaster();
    // A failover: 7003 (7000's replica) now serves 0..5460.
    answer([[0, 5460, ['127.0.0.1', 7003, 'd']], ...THREE_MASTERS.slice(1)]);
    expect(instance.followRedirect(replyError('MOVED 42 127.0.0.1:7003'))).toBe(true);
    expect(nameOf(await instance.forSlot(42))).toBe('127.0.0.1:7003');
    await instance.refresh();
    expect(nameOf(await instance.forSlot(0))).toBe('127.0.0.1:7003');
    expect(closed).toEqual(['127.0.0.1:7000']);
    expect(instance.followRedirect(replyError('TRYAGAIN Multiple keys request during rehashing of slot'))).toBe(false);
  });

  it('visits every master on the map as loaded, reloading it only once it is older than the bound', async () => {
    const { instance, asked, nameOf } = pool([THREE_MASTERS]);
    expect((await instance.everyMaster()).map(nameOf)).toEqual(['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002']);
    await instance.everyMaster();
    await instance.everyMaster();
    expect(asked).toHaveLength(1);
    vi.spyOn(performance, 'now').mockReturnValue(performance.now() + EVERY_MASTER_MAP_MAX_AGE_MS + 1);
    try {
      await instance.everyMaster();
    } finally {
      vi.restoreAllMocks();
    }
    expect(asked).toHaveLength(2);
  });

  it('tells the reload listeners after each reload, and which nodes serve a slot', async () => {
    const { instance, answer } = pool([THREE_MASTERS]);
    let reloads = 0;
    const remove = instance.onReload(() => reloads++);
    await instance.refresh();
    expect([instance.serves({ host: '127.0.0.1', port: 7000 }), instance.serves({ host: '127.0.0.1', port: 7003 })]).toEqual([true, false]);
    answer([[0, 5460, ['127.0.0.1', 7003, 'd']], ...THREE_MASTERS.slice(1)]);
    await instance.refresh();
    expect([instance.serves({ host: '127.0.0.1', port: 7000 }), instance.serves({ host: '127.0.0.1', port: 7003 })]).toEqual([false, true]);
    remove();
    await instance.refresh();
    expect(reloads).toBe(2);
  });

  it('rejects with an OperationalError when no node answers, and when no master serves the slot', async () => {
    const down = pool([THREE_MASTERS], [{ host: '127.0.0.1', port: 6999 }]);
    await expect(down.instance.forSlot(1)).rejects.toThrow(/no cluster node answered CLUSTER SLOTS: connect ECONNREFUSED/);
    const partial = pool([[THREE_MASTERS[0] as unknown[]]]);
    await expect(partial.instance.forSlot(9000)).rejects.toBeInstanceOf(OperationalError);
  });
});

describe('ClusterNodePool.onSlot', () => {
  const MOVED_SLOT_3 = [[0, 5460, ['127.0.0.1', 7001, 'b']], ...THREE_MASTERS.slice(1)];

  it('sends a command that met MOVED once more, to the node the reply names', async () => {
    const { instance, nameOf, answer } = pool([THREE_MASTERS]);
    await instance.refresh();
    answer(MOVED_SLOT_3);
    const sentTo: string[] = [];
    const result = await instance.onSlot(3, async (client) => {
      sentTo.push(nameOf(client));
      if (sentTo.length === 1) throw replyError('MOVED 3 127.0.0.1:7001');
      return 'ran';
    });
    expect(result).toBe('ran');
    expect(sentTo).toEqual(['127.0.0.1:7000', '127.0.0.1:7001']);
  });

  it('never resends on any other failure (a lost reply may have run), and at most once on MOVED', async () => {
    const { instance, answer } = pool([THREE_MASTERS]);
    await instance.refresh();
    let sends = 0;
    const lost = new Error('Connection is closed.');
    await expect(instance.onSlot(3, () => (sends++, Promise.reject(lost)))).rejects.toBe(lost);
    expect(sends).toBe(1);
    answer(MOVED_SLOT_3);
    sends = 0;
    await expect(instance.onSlot(3, () => (sends++, Promise.reject(replyError('MOVED 3 127.0.0.1:7001'))))).rejects.toThrow(/MOVED/);
    expect(sends).toBe(2);
  });
});
