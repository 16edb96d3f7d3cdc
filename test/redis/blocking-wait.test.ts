/**
 * The one-queue idle wait (blocking-wait.ts): the poll connection blocks in a BLMOVE that moves
 * the list's tail onto its own tail, with the pop queued behind it. brpopTimeout is 30 s in these
 * tests, so anything delivered within a few seconds was not left to the timer fallback.
 */
import { Socket } from 'node:net';
import { parseUrl, type Delivery } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport, type RedisChannel } from '@kelp/transport-redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SEP, bodyOf, message, redisFixture, waitUntil, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());

/**
 * The command each connection on this file's db is running ('blmove' while blocked in one).
 * The server is shared with other test files, each on its own db.
 */
async function clientCommands(): Promise<string[]> {
  const list = String(await fx.redis.client('LIST'));
  return list
    .split('\n')
    .filter((line) => line.includes(` db=${fx.db.db} `))
    .map((line) => /\bcmd=(\S+)/.exec(line)?.[1] ?? '')
    .filter(Boolean);
}

/** Runs the hub until `done`, while `during` runs alongside (it sees the hub running). */
async function runWhile(hub: Hub, done: () => boolean, during: () => Promise<void>, timeoutMs = 5000): Promise<boolean> {
  const running = hub.runUntil(done, { timeoutMs });
  await during();
  return running;
}


/**
 * Connections blocked in a BLMOVE. Each test closes its channel at the end; `blockedBefore` is
 * taken at its start anyway, so a wait left over by another test is never mistaken for its own.
 */
const blockedCount = async (): Promise<number> => (await clientCommands()).filter((cmd) => cmd === 'blmove').length;
let blockedBefore = 0;
const blocked = async (): Promise<boolean> => (await blockedCount()) > blockedBefore;

/** ACL LOG entries are flat [name, value, name, value, ...] arrays. */
function chunks(flat: unknown[]): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([String(flat[i]), flat[i + 1]]);
  return out;
}

type Channel = Awaited<ReturnType<RedisFixture['newTransport']>>['channel'];

/**
 * Consumes `queue` on a fresh transport (brpopTimeout 30 s) with the hub running, waits until
 * its BLMOVE is seen, then runs `act` with a second transport's channel and the consumer's;
 * returns the deliveries and the ms from `act` to the `count`-th delivery.
 */
async function whileBlocked(
  queue: string,
  act: (producer: Channel, consumer: Channel, deliveries: Delivery[]) => Promise<unknown>,
  count = 1,
): Promise<{ channel: Channel; got: Delivery[]; ms: number }> {
  const { channel, hub } = await fx.newTransport({ brpopTimeout: 30 });
  const got: Delivery[] = [];
  await channel.basicConsume(queue, { onDelivery: (d) => got.push(d) });
  const producer = await fx.newTransport();
  let started = 0;
  await runWhile(hub, () => got.length >= count, async () => {
    expect(await waitUntil(blocked)).toBe(true);
    started = Date.now();
    await act(producer.channel, channel, got);
  });
  return { channel, got, ms: Date.now() - started };
}

describe('blocking wait on one queue', () => {
  beforeEach(async () => {
    blockedBefore = await blockedCount();
  });

  it('waits in a BLMOVE that takes nothing and delivers a raw LPUSH once, in order', async () => {
    await fx.redis.del('unacked', 'unacked_index');
    // A foreign producer (what a Python LPUSH does): three messages in one go.
    const { channel, got, ms } = await whileBlocked('bw-one', async (producer) => {
      for (let i = 0; i < 3; i++) await producer.basicPublish(message({ i }), '', 'bw-one');
    }, 3);
    expect([got.map((d) => (bodyOf(d) as { i: number }).i), ms < 3000]).toEqual([[0, 1, 2], true]);
    // Recorded like any pop: three unacked records, nothing left in the list.
    expect([await fx.redis.llen('bw-one'), await fx.redis.hlen('unacked')]).toEqual([0, 3]);
    await channel.close();
  });

  it('hands over what a wake-up brought before it writes the next wait (the callback does not queue behind it)', async () => {
    // Every BLMOVE on bw-order that leaves this process, counted as it is written.
    let waitsWritten = 0;
    const write = Socket.prototype.write;
    const spy = vi.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      if (typeof chunk === 'string' && /BLMOVE/.test(chunk) && chunk.includes('bw-order')) waitsWritten += 1;
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    });
    const { channel, hub } = await fx.newTransport({ brpopTimeout: 30 });
    try {
      const producer = await fx.newTransport();
      const got: Delivery[] = [];
      /** Waits written between each publish and its delivery. */
      const writtenBefore: number[] = [];
      let atPublish = 0;
      await channel.basicConsume('bw-order', { onDelivery: (d) => { got.push(d); writtenBefore.push(waitsWritten - atPublish); } });
      await runWhile(hub, () => got.length >= 2, async () => {
        for (const n of [1, 2]) {
          expect(await waitUntil(blocked)).toBe(true);
          atPublish = waitsWritten;
          await producer.channel.basicPublish(message({ n }), '', 'bw-order');
          expect(await waitUntil(async () => got.length >= n)).toBe(true);
        }
      });
      // Woken twice, and each time the next wait went out after the delivery, not before it.
      expect([got.map((d) => bodyOf(d)), writtenBefore, waitsWritten >= 2]).toEqual([[{ n: 1 }, { n: 2 }], [0, 0], true]);
    } finally {
      spy.mockRestore();
      await channel.close();
    }
  });

  it('is cut short by a write to a priority sub-list (still armed by tracking)', async () => {
    const { channel, got, ms } = await whileBlocked('bw-prio', (producer) => producer.basicPublish(message({ urgent: true }, { priority: 9 }), '', 'bw-prio'));
    // The message went to a sub-list the BLMOVE does not watch: the UNBLOCK let the pop run.
    expect([got.map((d) => bodyOf(d)), ms < 3000, await fx.redis.llen(`bw-prio${SEP}9`)]).toEqual([[{ urgent: true }], true, 0]);
    await channel.close();
  });

  it('stops blocking when a second queue is consumed, and the new queue is popped at once', async () => {
    const { channel, got, ms } = await whileBlocked('bw-a', async (producer, consumer, deliveries) => {
      await consumer.basicConsume('bw-b', { onDelivery: (d) => deliveries.push(d) });
      await producer.basicPublish(message({ to: 'b' }), '', 'bw-b');
    });
    expect([got.map((d) => bodyOf(d)), ms < 3000, await blocked()]).toEqual([[{ to: 'b' }], true, false]);
    await channel.close();
  });

  it('pops the waited list again after it stops waiting on it (its tracking was spent by the wake-up)', async () => {
    const { channel, hub } = await fx.newTransport({ brpopTimeout: 30 });
    const producer = await fx.newTransport();
    const got: Delivery[] = [];
    await channel.basicConsume('bw-u1', { onDelivery: (d) => got.push(d) });
    await runWhile(hub, () => got.length >= 1, async () => {
      expect(await waitUntil(blocked)).toBe(true);
      await producer.channel.basicPublish(message({ n: 1 }), '', 'bw-u1');
    });
    let started = 0;
    await runWhile(hub, () => got.length >= 2, async () => {
      // Waiting on bw-u1 again, without a pop in between: its tracking is not re-armed.
      expect(await waitUntil(blocked)).toBe(true);
      await channel.basicConsume('bw-u2', { onDelivery: (d) => got.push(d) });
      expect(await waitUntil(async () => !(await blocked()))).toBe(true);
      started = Date.now();
      await producer.channel.basicPublish(message({ n: 2 }), '', 'bw-u1');
    });
    expect([got.map((d) => bodyOf(d)), Date.now() - started < 3000]).toEqual([[{ n: 1 }, { n: 2 }], true]);
    await channel.close();
  });

  it('gives back what its pop took after the hub stopped, and pulls nothing in meanwhile', async () => {
    await fx.redis.del('unacked', 'unacked_index');
    const { channel, hub } = await fx.newTransport({ brpopTimeout: 30 });
    const got: Delivery[] = [];
    await channel.basicConsume('bw-stop', { onDelivery: (d) => got.push(d) });
    await runWhile(hub, () => false, async () => {
      expect(await waitUntil(blocked)).toBe(true);
      hub.stop();
    });
    // Published right behind the UNBLOCK on the same connection: the pop queued behind the wait
    // runs after it and takes the message, which must come back to the list.
    await channel.basicPublish(message({ late: 1 }), '', 'bw-stop');
    const back = await waitUntil(async () => (await fx.redis.llen('bw-stop')) === 1 && (await fx.redis.hlen('unacked')) === 0);
    expect([back, got.length, await blocked()]).toEqual([true, 0, false]);
    await runWhile(hub, () => got.length >= 1, async () => undefined);
    expect(got.map((d) => bodyOf(d))).toEqual([{ late: 1 }]);
    await channel.close();
  });

  it('closes at once while blocked (the QUIT does not wait out the BLMOVE)', async () => {
    const { channel, hub } = await fx.newTransport({ brpopTimeout: 30 });
    await channel.basicConsume('bw-close', { onDelivery: () => undefined });
    await runWhile(hub, () => false, async () => {
      expect(await waitUntil(blocked)).toBe(true);
      hub.stop();
    });
    const started = Date.now();
    await channel.close();
    expect([Date.now() - started < 2000, await blocked()]).toEqual([true, false]);
  });

  it('turns itself off after the first error reply to BLMOVE (an ACL user without it)', async () => {
    const user = `kelp-no-blmove-${fx.db.db}`;
    await fx.redis.call('ACL', 'SETUSER', user, 'on', 'nopass', '~*', '&*', '+@all', '-blmove');
    try {
      const url = new URL(fx.db.url);
      url.username = user;
      const transport = new RedisTransport(parseUrl(url.toString(), { transportOptions: { brpopTimeout: 30 } }));
      await transport.connect();
      const hub = new Hub();
      transport.registerWithEventLoop(hub);
      const channel = (await transport.createChannel()) as RedisChannel;
      const got: Delivery[] = [];
      await channel.basicConsume('bw-acl', { onDelivery: (d) => got.push(d) });
      const producer = await fx.newTransport();
      let started = 0;
      await runWhile(hub, () => got.length >= 2, async () => {
        await new Promise((r) => setTimeout(r, 300));
        started = Date.now();
        await producer.channel.basicPublish(message({ n: 1 }), '', 'bw-acl');
        await new Promise((r) => setTimeout(r, 100));
        await producer.channel.basicPublish(message({ n: 2 }), '', 'bw-acl');
      });
      const denied = ((await fx.redis.call('ACL', 'LOG')) as unknown[][])
        .map((entry) => Object.fromEntries(chunks(entry)))
        .filter((entry) => entry['username'] === user && entry['object'] === 'blmove')
        .reduce((n, entry) => n + Number(entry['count']), 0);
      // Delivered by the tracking wake-up, not the 30 s timer; BLMOVE was tried once only.
      expect([got.map((d) => bodyOf(d)), Date.now() - started < 3000, denied]).toEqual([[{ n: 1 }, { n: 2 }], true, 1]);
      await transport.close();
      hub.close();
    } finally {
      await fx.redis.call('ACL', 'DELUSER', user);
    }
  });

  it('never blocks with blockingWait: false (tracking alone wakes it)', async () => {
    const { channel, hub } = await fx.newTransport({ brpopTimeout: 30, blockingWait: false });
    const got: Delivery[] = [];
    await channel.basicConsume('bw-off', { onDelivery: (d) => got.push(d) });
    let sawBlocked = false;
    await runWhile(hub, () => false, async () => {
      // Idle for 300 ms: a blocking wait would show within the first few milliseconds.
      sawBlocked = await waitUntil(blocked, 300);
    }, 400);
    const producer = await fx.newTransport();
    await producer.channel.basicPublish(message({ off: true }), '', 'bw-off');
    await runWhile(hub, () => got.length >= 1, async () => undefined);
    expect([sawBlocked, got.map((d) => bodyOf(d))]).toEqual([false, [{ off: true }]]);
    await channel.close();
  });
});
