/**
 * A README-style consumer (async callbacks that await `message.ack()`) with `concurrency` above 1
 * on a real Redis: the acks of concurrent callbacks reach Redis together, an awaited ack still
 * means "Redis has it", and a SIGKILL with 50 callbacks in flight loses nothing.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Connection, Consumer, Producer, Queue, type Message } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { luaScripts } from '../../packages/transport-redis/src/lua-scripts.js';
import { bundleChild, repoRoot, type ChildBundle } from '../setup/child-bundle.js';
import { startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { waitUntil } from './helpers.js';

let server: RedisServerHandle;
let admin: Redis;
let consumerBundle: ChildBundle;

beforeAll(async () => {
  // A server of its own: INFO commandstats counts every client of the server.
  server = await startRedisServer();
  admin = new Redis(server.url);
  consumerBundle = await bundleChild({ entry: fileURLToPath(new URL('./fixtures/concurrent-consumer.ts', import.meta.url)) }, 'concurrent-consumer');
}, 60_000);

afterAll(async () => {
  consumerBundle?.remove();
  await admin?.quit();
  await server?.stop();
});

async function publishIds(url: string, queue: Queue, count: number): Promise<string[]> {
  const conn = new Connection(url);
  const producer = new Producer(conn);
  const ids = Array.from({ length: count }, () => randomUUID());
  await queue.declare({ channel: await conn.defaultChannel() });
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(ids.slice(i, i + 500).map((id) => producer.publish({ id }, { routingKey: queue.name })));
  }
  await conn.close();
  return ids;
}

/** Calls per command type since the last CONFIG RESETSTAT, e.g. { evalsha: 3 }. */
async function commandCalls(): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const line of (await admin.info('commandstats')).split('\r\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) calls[match[1] as string] = Number(match[2]);
  }
  return calls;
}

/**
 * A README-style consumer at prefetch 1 on a backlog of 300, past its first 50 messages: `handle(n)`
 * drives the hub until n more were acked.
 */
async function prefetchOneConsumer(url: string, kind: string): Promise<{ handle(count: number): Promise<void>; stop(): Promise<void> }> {
  const queue = new Queue(`${kind}-${randomUUID()}`);
  await publishIds(url, queue, 300);
  const conn = new Connection(url);
  let handled = 0;
  const consumer = new Consumer(conn, queue, {
    prefetchCount: 1,
    callbacks: [
      async (_body, message) => {
        await message.ack();
        handled++;
      },
    ],
  });
  const handle = async (count: number): Promise<void> => {
    const target = handled + count;
    while (handled < target) await conn.drainEvents({ timeout: 1 }).catch(() => undefined);
  };
  await consumer.consume();
  await handle(50);
  return {
    handle,
    stop: async () => {
      await consumer.cancel();
      await conn.close();
    },
  };
}

describe('a consumer with concurrency on Redis', () => {
  it('sends the acks of 100 concurrent callbacks as a handful of commands', async () => {
    const url = `${server.url}/1`;
    const queue = new Queue(`acks-${randomUUID()}`);
    await publishIds(url, queue, 100);
    await admin.select(1);
    const conn = new Connection(url);
    const started: Message[] = [];
    let release!: () => void;
    const barrier = new Promise<void>((resolve) => (release = resolve));
    const acked: string[] = [];
    const consumer = new Consumer(conn, queue, {
      concurrency: 100,
      prefetchCount: 100,
      callbacks: [
        async (body, message) => {
          started.push(message);
          await barrier;
          await message.ack();
          acked.push((body as { id: string }).id);
        },
      ],
    });
    await consumer.consume();
    while (started.length < 100) await conn.drainEvents({ timeout: 1 }).catch(() => undefined);
    expect(await admin.hlen('unacked')).toBe(100);
    await admin.config('RESETSTAT');
    release();
    while (acked.length < 100) await conn.drainEvents({ timeout: 0.2 }).catch(() => undefined);
    const calls = await commandCalls();
    expect(await admin.hlen('unacked')).toBe(0);
    expect(await admin.zcard('unacked_index')).toBe(0);
    // One script call carries the 100 acks; the rest is the poller asking an empty queue for more.
    const scriptCalls = (calls['evalsha'] ?? 0) + (calls['eval'] ?? 0);
    expect(scriptCalls).toBeGreaterThanOrEqual(1);
    expect(scriptCalls).toBeLessThanOrEqual(5);
    await consumer.cancel();
    await conn.close();
  });

  it('makes two script calls per message at prefetch 1 while a backlog waits: the pop and the ack', async () => {
    const run = await prefetchOneConsumer(`${server.url}/4`, 'backlog');
    await admin.config('RESETSTAT');
    await run.handle(200);
    const calls = await commandCalls();
    await run.stop();
    // Arming tracking (a third script) is left for the pop that finds the backlog gone.
    const perMessage = ((calls['evalsha'] ?? 0) + (calls['eval'] ?? 0)) / 200;
    expect(perMessage).toBeGreaterThanOrEqual(1.9);
    expect(perMessage).toBeLessThanOrEqual(2.1);
  });

  it('sends the acks at prefetch 1 on the poll connection, beside the pops they make room for', async () => {
    const run = await prefetchOneConsumer(`${server.url}/7`, 'lane');
    // Which connection sent each ack script call: MONITOR names the client address.
    const monitor = await admin.duplicate().monitor();
    const ackSha = createHash('sha1').update(luaScripts.ack.lua).digest('hex');
    const ackSources: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[0]?.toLowerCase() === 'evalsha' && args[1] === ackSha) ackSources.push(source);
    });
    await run.handle(200);
    const clients = String(await admin.client('LIST'));
    await run.stop();
    monitor.disconnect();
    const nameOf = new Map(clients.split('\n').map((line) => [/ addr=(\S+)/.exec(line)?.[1], /name=(\S*)/.exec(line)?.[1]]));
    const byName: Record<string, number> = {};
    for (const source of ackSources) byName[nameOf.get(source) ?? 'gone'] = (byName[nameOf.get(source) ?? 'gone'] ?? 0) + 1;
    expect(ackSources.length).toBeGreaterThanOrEqual(190);
    // The command connection only carries an ack whose tick wrote no pop (the last ones).
    expect(byName['kelp-poll'] ?? 0).toBeGreaterThanOrEqual(ackSources.length - 5);
  });

  it('wakes a sleeping runUntil when an ack made outside the hub is confirmed', async () => {
    // A long blocking wait: nothing but the ack's confirmation can end the hub's sleep early.
    const url = `${server.url}/5?brpop_timeout=30`;
    const queue = new Queue(`wake-${randomUUID()}`);
    await publishIds(url, queue, 1);
    const conn = new Connection(url);
    const received: Message[] = [];
    const consumer = new Consumer(conn, queue, { callbacks: [(_body, message) => void received.push(message)] });
    await consumer.consume();
    await conn.drainEvents({ timeout: 5 });
    expect(received).toHaveLength(1);
    let acked = false;
    setTimeout(() => void (received[0] as Message).ack().then(() => (acked = true)), 100);
    const started = performance.now();
    expect(await conn.hub.runUntil(() => acked, { timeoutMs: 10_000 })).toBe(true);
    expect(performance.now() - started).toBeLessThan(3_000);
    await consumer.cancel();
    await conn.close();
  });

  it('requeues what 20 concurrent callbacks reject together in one script call, and redelivers each', async () => {
    const url = `${server.url}/6`;
    const queue = new Queue(`requeue-${randomUUID()}`);
    const ids = await publishIds(url, queue, 20);
    const conn = new Connection(url);
    let failNow!: () => void;
    const failing = new Promise<void>((resolve) => (failNow = resolve));
    let redeliveryMayAck!: () => void;
    const mayAck = new Promise<void>((resolve) => (redeliveryMayAck = resolve));
    const firstTries: string[] = [];
    const redelivered: string[] = [];
    const acked: string[] = [];
    const consumer = new Consumer(conn, queue, {
      concurrency: 20,
      prefetchCount: 40,
      settleByOutcome: true,
      onError: () => {},
      callbacks: [
        async (body, message) => {
          const { id } = body as { id: string };
          if (!message.redelivered) {
            firstTries.push(id);
            await failing;
            throw new Error(`first try of ${id} fails`);
          }
          redelivered.push(id);
          await mayAck;
          acked.push(id);
        },
      ],
    });
    await consumer.consume();
    while (firstTries.length < 20) await conn.drainEvents({ timeout: 1 }).catch(() => undefined);
    await admin.select(6);
    await admin.config('RESETSTAT');
    failNow();
    while (redelivered.length < 20) await conn.drainEvents({ timeout: 1 }).catch(() => undefined);
    const calls = await commandCalls();
    redeliveryMayAck();
    while (acked.length < 20) await conn.drainEvents({ timeout: 1 }).catch(() => undefined);
    await consumer.cancel();
    await conn.close();
    // One HMGET and one restore-batch script for the 20 requeues, then the pops that redeliver
    // them: one request per message would be 20 reads and 20 scripts.
    expect(calls['hmget']).toBe(1);
    expect((calls['evalsha'] ?? 0) + (calls['eval'] ?? 0)).toBeLessThanOrEqual(6);
    expect([...redelivered].sort()).toEqual([...ids].sort());
    expect([...acked].sort()).toEqual([...ids].sort());
    expect([await admin.llen(queue.name), await admin.hlen('unacked')]).toEqual([0, 0]);
  });

  it('rejects an awaited ack that Redis refused, and leaves the message unacked', async () => {
    const url = `redis://acked:pw@127.0.0.1:${server.port}/2`;
    await admin.call('ACL', 'SETUSER', 'acked', 'on', '>pw', '~*', '&*', '+@all');
    const queue = new Queue(`refused-${randomUUID()}`);
    await publishIds(url, queue, 3);
    const conn = new Connection(url);
    const outcomes: unknown[] = [];
    let refuse!: () => void;
    const refused = new Promise<void>((resolve) => (refuse = resolve));
    const consumer = new Consumer(conn, queue, {
      concurrency: 3,
      prefetchCount: 3,
      callbacks: [
        async (_body, message) => {
          await refused;
          outcomes.push(await message.ack().then(() => 'acked', (error: Error) => error));
        },
      ],
    });
    await consumer.consume();
    const conn2Admin = new Redis(`${server.url}/2`);
    await waitUntil(async () => {
      await conn.drainEvents({ timeout: 0.1 }).catch(() => undefined);
      return (await conn2Admin.hlen('unacked')) === 3;
    }, 10_000);
    // The user may no longer run scripts: the ack script is refused by Redis itself.
    await admin.call('ACL', 'SETUSER', 'acked', '-@scripting');
    refuse();
    while (outcomes.length < 3) await conn.drainEvents({ timeout: 0.2 }).catch(() => undefined);
    for (const outcome of outcomes) expect(String(outcome)).toMatch(/NOPERM/);
    expect(await conn2Admin.hlen('unacked')).toBe(3);
    await admin.call('ACL', 'SETUSER', 'acked', '+@all');
    await consumer.cancel();
    await conn.close();
    await conn2Admin.quit();
  });

  it('loses no message when SIGKILLed with 50 callbacks in flight (counted from confirmed acks)', async () => {
    const url = `${server.url}/3`;
    const queue = new Queue(`kill-${randomUUID()}`);
    const ids = await publishIds(url, queue, 3_000);
    const db = new Redis(url);

    const first = await runChild(url, queue.name, 0, async (acked) => acked.size >= 300);
    const unackedAtKill = await db.hlen('unacked');
    // The kill landed while callbacks held messages: their records are still in Redis.
    expect(unackedAtKill).toBeGreaterThan(0);
    expect(first.acked.size).toBeGreaterThanOrEqual(300);
    expect(first.acked.size).toBeLessThan(ids.length);

    // Put back what the killed process left unacked (as `kelp restore` would), then finish.
    const conn = new Connection(url);
    const report = await conn.transport.admin?.restore({ olderThan: 0 });
    await conn.close();
    expect(report?.total).toBe(unackedAtKill);
    const waiting = await db.llen(queue.name);
    const second = await runChild(url, queue.name, waiting, async () => false);
    expect(second.acked.size).toBe(waiting);

    // An id neither acked nor waiting was acked in Redis by the killed process after it said
    // "acking" and before it could say "acked": at most one callback per slot can be there.
    const acked = new Set([...first.acked, ...second.acked]);
    const unconfirmed = ids.filter((id) => !acked.has(id));
    expect(unconfirmed.every((id) => first.acking.has(id))).toBe(true);
    expect(unconfirmed.length).toBeLessThanOrEqual(50);
    expect(await db.llen(queue.name)).toBe(0);
    expect(await db.hlen('unacked')).toBe(0);
    await db.quit();
  }, 60_000);
});

/** Runs the child consumer; SIGKILLs it once `killWhen` says so (or lets it stop after `count` acks). */
async function runChild(
  url: string,
  queue: string,
  count: number,
  killWhen: (acked: Set<string>) => Promise<boolean>,
): Promise<{ acked: Set<string>; acking: Set<string> }> {
  const child = spawn(process.execPath, [consumerBundle.file, url, queue, '50', '100', String(count)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Set<string>();
  const acking = new Set<string>();
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('acked ')) acked.add(line.slice(6));
      else if (line.startsWith('acking ')) acking.add(line.slice(7));
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (child.exitCode === null && Date.now() < deadline) {
    if (await killWhen(acked)) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 30_000))]);
  if (code === 'timeout') child.kill('SIGKILL');
  expect(code === 'timeout' ? stderr || 'child timed out' : '').toBe('');
  return { acked, acking };
}
