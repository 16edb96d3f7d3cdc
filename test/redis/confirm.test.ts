/**
 * Confirmed publishes against a master with one replica (both started here): a confirmed
 * publish resolves once the replica holds the message, a tick's confirmed publishes share one
 * WAIT on the transport's confirm connection, a confirm that cannot be met rejects with
 * PublishNotConfirmedError after about its timeout while the message stays in the master's list,
 * and a WAIT for a missing replica holds up no plain publish or ack.
 */
import { ConfigurationError, Connection, OperationalError, PublishNotConfirmedError, type PublishResult } from 'kelp';
import { parseUrl, type Delivery } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport } from '@kelp/transport-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { message, waitUntil } from './helpers.js';

let master: RedisServerHandle;
let replica: RedisServerHandle;
let onMaster: Redis;
let onReplica: Redis;
const connections: Connection[] = [];

beforeAll(async () => {
  master = await startRedisServer();
  replica = await startRedisServer({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] });
  onMaster = new Redis(master.url);
  onReplica = new Redis(replica.url);
  const linked = await waitUntil(async () => /master_link_status:up/.test(await onReplica.info('replication')), 20_000);
  if (!linked) throw new Error('the replica did not finish its first sync with the master');
});

afterAll(async () => {
  for (const connection of connections) await connection.close();
  onMaster?.disconnect();
  onReplica?.disconnect();
  await replica?.stop();
  await master?.stop();
});

async function connect(transportOptions: Record<string, unknown> = {}): Promise<Connection> {
  const connection = new Connection(master.url, { transportOptions });
  connections.push(connection);
  await connection.connect();
  return connection;
}

/** How many WAIT commands the master has run since its stats were last reset. */
async function waitCalls(): Promise<number> {
  const match = /cmdstat_wait:calls=(\d+)/.exec(await onMaster.info('commandstats'));
  return match ? Number(match[1]) : 0;
}

/** The CLIENT LIST line of the connection blocked in a WAIT, if one is. */
async function blockedInWait(): Promise<string | undefined> {
  const clients = String(await onMaster.call('CLIENT', 'LIST', 'TYPE', 'normal'));
  return clients.split('\n').find((line) => /flags=b .*cmd=wait/.test(line));
}

/** How many confirm connections the master has. */
async function confirmConnections(): Promise<number> {
  const clients = String(await onMaster.call('CLIENT', 'LIST', 'TYPE', 'normal'));
  return clients.split('\n').filter((line) => / name=kelp-confirm /.test(line)).length;
}

/** Rejection of `promise`, with how long it took to come (from this call). */
async function rejectionOf(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await promise;
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('expected the publish to reject');
}

describe('a confirmed publish with one replica', () => {
  it('resolves once the replica holds the message', async () => {
    const producer = (await connect()).Producer();
    const result = await producer.publish({ n: 1 }, { routingKey: 'confirmed', confirm: { replicas: 1, timeout: 5 } });
    expect(result.replicas).toBe(1);
    const [stored] = await onReplica.lrange('confirmed', 0, -1);
    expect(JSON.parse(stored as string).properties.delivery_tag).toBe(result.deliveryTag);
  });

  it('shares a handful of WAITs among 100 concurrent confirmed publishes', async () => {
    const producer = (await connect()).Producer({ confirm: { replicas: 1, timeout: 5 } });
    await onMaster.config('RESETSTAT');
    const results = await Promise.all(Array.from({ length: 100 }, (_, n) => producer.publish({ n }, { routingKey: 'burst' })));
    const calls = await waitCalls();
    expect(results.filter((r) => r.replicas === 1)).toHaveLength(100);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(5);
    expect(await onReplica.llen('burst')).toBe(100);
  });

  it('shares one WAIT among the channels of a connection, which all write confirmed publishes on its confirm connection', async () => {
    const connection = await connect();
    const channels = await Promise.all(Array.from({ length: 10 }, () => connection.channel()));
    await onMaster.config('RESETSTAT');
    const results = await Promise.all(channels.map((channel) => channel.basicPublish(message('ten'), '', 'ten-channels', { confirm: true })));
    expect(results.filter((r) => r.replicas === 1)).toHaveLength(10);
    // One WAIT, or a second for the replies that came in while the first waited; 10 if unshared.
    expect(await waitCalls()).toBeLessThanOrEqual(3);
  });

  it('lets publishes made while a WAIT waits for a missing replica share the next WAIT', async () => {
    const producer = (await connect()).Producer({ confirm: { replicas: 2, timeout: 0.5 } });
    await onMaster.config('RESETSTAT');
    // Five publishes in five ticks, all while the first WAIT waits for a replica that is not there.
    const settled: Promise<unknown>[] = [];
    for (let n = 0; n < 5; n += 1) {
      settled.push(producer.publish({ n }, { routingKey: 'spread' }).catch((error: unknown) => error));
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    const outcomes = await Promise.all(settled);
    expect(outcomes.filter((o) => o instanceof PublishNotConfirmedError)).toHaveLength(5);
    // The first WAIT, then one for the four answered behind it (a third if their replies split); 5 if unshared.
    const calls = await waitCalls();
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(3);
  });

  it('confirms a channel.basicPublish the same way', async () => {
    const channel = await (await connect()).channel();
    const result = await channel.basicPublish(
      { body: new TextEncoder().encode('"x"'), contentType: 'application/json', contentEncoding: 'utf-8', headers: {}, properties: {} },
      '',
      'via-channel',
      { confirm: true },
    );
    expect([result.replicas, await onReplica.llen('via-channel')]).toEqual([1, 1]);
  });

  it('judges each publish of a shared WAIT against its own replica count', async () => {
    const producer = (await connect()).Producer();
    await onMaster.config('RESETSTAT');
    const [one, two] = await Promise.allSettled([
      producer.publish('a', { routingKey: 'mixed', confirm: { replicas: 1, timeout: 0.5 } }),
      producer.publish('b', { routingKey: 'mixed', confirm: { replicas: 2, timeout: 0.5 } }),
    ]);
    expect(one).toMatchObject({ status: 'fulfilled', value: { replicas: 1 } });
    expect(two.status === 'rejected' && two.reason).toBeInstanceOf(PublishNotConfirmedError);
    expect(await waitCalls()).toBe(1);
    expect(await onMaster.llen('mixed')).toBe(2);
  });

  it('rejects after about the timeout when it asks for more replicas than there are; the message stays', async () => {
    const producer = (await connect()).Producer();
    const { error, ms } = await rejectionOf(producer.publish({ n: 2 }, { routingKey: 'two-asked', confirm: { replicas: 2, timeout: 0.5 } }));
    expect(error).toBeInstanceOf(PublishNotConfirmedError);
    const { acknowledged, requested, result } = error as PublishNotConfirmedError;
    expect([acknowledged, requested, result.queues]).toEqual([1, 2, ['two-asked']]);
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(10_000);
    const [stored] = await onMaster.lrange('two-asked', 0, -1);
    expect(JSON.parse(stored as string).properties.delivery_tag).toBe(result.deliveryTag);
  });

  it('is not retried by retry: true (that would store a second copy)', async () => {
    const producer = (await connect()).Producer();
    const publishing = producer.publish('once', { routingKey: 'not-retried', retry: true, confirm: { replicas: 2, timeout: 0.3 } });
    await expect(publishing).rejects.toBeInstanceOf(PublishNotConfirmedError);
    expect(await onMaster.llen('not-retried')).toBe(1);
  });

  it('resolves a fanout broadcast without a WAIT: nothing was stored to replicate', async () => {
    const connection = await connect();
    const channel = await connection.channel();
    await channel.exchangeDeclare('news', { type: 'fanout' });
    await onMaster.config('RESETSTAT');
    const result: PublishResult = await connection.Producer().publish('hi', { exchange: 'news', confirm: true });
    expect([result.status, result.replicas, await waitCalls()]).toEqual(['unroutable', undefined, 0]);
  });

  it('refuses a timeout the confirm connection cannot wait for, before writing', async () => {
    const producer = (await connect({ socketTimeout: 2 })).Producer();
    const { error } = await rejectionOf(producer.publish('late', { routingKey: 'too-long', confirm: { replicas: 1, timeout: 5 } }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).option).toBe('confirm.timeout');
    expect(await onMaster.exists('too-long')).toBe(0);
  });
});

describe('the confirm connection', () => {
  it('is opened by the first confirmed publish of a Connection, not before, and closed with it', async () => {
    const before = await confirmConnections();
    const connection = await connect();
    const producer = connection.Producer();
    await producer.publish('plain', { routingKey: 'opens-confirm' });
    expect(await confirmConnections()).toBe(before);
    await producer.publish('confirmed', { routingKey: 'opens-confirm', confirm: true });
    await producer.publish('confirmed again', { routingKey: 'opens-confirm', confirm: true });
    expect(await confirmConnections()).toBe(before + 1);
    await connection.close();
    expect(await waitUntil(async () => (await confirmConnections()) === before, 5000)).toBe(true);
  });
});

describe('a confirmed publish whose connection drops during its WAIT', () => {
  it('rejects at once as not confirmed (the cause: the lost connection), and retry: true stores no second copy', async () => {
    const producer = (await connect()).Producer();
    // Watched from the start: the rejection may come before the KILL's own reply does.
    const outcome = rejectionOf(producer.publish('cut', { routingKey: 'cut-off', retry: true, confirm: { replicas: 2, timeout: 20 } }));
    // The connection blocked in this WAIT (others may have run WAIT before and sit idle).
    expect(await waitUntil(async () => (await blockedInWait()) !== undefined, 5000)).toBe(true);
    const line = (await blockedInWait()) as string;
    await onMaster.client('KILL', 'ID', (/id=(\d+)/.exec(line) as RegExpExecArray)[1] as string);
    const { error, ms } = await outcome;
    expect(error).toBeInstanceOf(PublishNotConfirmedError);
    expect((error as PublishNotConfirmedError).acknowledged).toBe(0);
    expect((error as Error).cause).toBeInstanceOf(OperationalError);
    expect(ms).toBeLessThan(10_000);
    expect(await onMaster.llen('cut-off')).toBe(1);
  });
});

describe('a WAIT longer than the health check deadline (10 s)', () => {
  it('is not taken for a dead link: the publish ends with PublishNotConfirmedError, not a reconnect', async () => {
    const transport = new RedisTransport(parseUrl(master.url, { transportOptions: { healthCheckInterval: 1 } }));
    await transport.connect();
    const hub = new Hub();
    transport.registerWithEventLoop(hub);
    const lost: Error[] = [];
    transport.on('connectionLost', (error) => lost.push(error));
    try {
      const channel = await transport.createChannel();
      let outcome: unknown;
      const publishing = channel
        .basicPublish(message('slow'), '', 'long-wait', { confirm: { replicas: 2, timeout: 12 } })
        .then((result) => (outcome = result), (error: unknown) => (outcome = error));
      // The hub runs the health checks; each PING waits behind the WAIT.
      await hub.runUntil(() => outcome !== undefined, { timeoutMs: 30_000 });
      await publishing;
      expect(outcome).toBeInstanceOf(PublishNotConfirmedError);
      expect(lost).toEqual([]);
    } finally {
      await transport.close();
      hub.close();
    }
  });
});

describe('a confirmed publish whose replica is gone', () => {
  it('rejects with PublishNotConfirmedError after about the timeout; the message is in the master list', async () => {
    const producer = (await connect()).Producer();
    await producer.publish('warm-up', { routingKey: 'orphan', confirm: { replicas: 1, timeout: 5 } });
    onReplica.disconnect();
    await replica.kill();
    const { error, ms } = await rejectionOf(producer.publish({ n: 3 }, { routingKey: 'orphan', confirm: { replicas: 1, timeout: 1 } }));
    expect(error).toBeInstanceOf(PublishNotConfirmedError);
    expect([(error as PublishNotConfirmedError).acknowledged, (error as PublishNotConfirmedError).requested]).toEqual([0, 1]);
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(10_000);
    const stored = await onMaster.lrange('orphan', 0, -1);
    expect(stored.map((s) => JSON.parse(s).properties.delivery_tag)).toContain((error as PublishNotConfirmedError).result.deliveryTag);
    expect(stored).toHaveLength(2);
  });

  // The replica is gone since the test above.
  it('holds up no plain publish, get or ack of the same Connection while its WAIT waits', async () => {
    const connection = await connect();
    const channel = await connection.channel();
    const producer = connection.Producer();
    await producer.publish('first', { routingKey: 'beside-wait' });
    await onMaster.config('RESETSTAT');
    const confirming = producer.publish('slow', { routingKey: 'beside-wait-confirmed', confirm: { replicas: 1, timeout: 3 } }).catch((error: unknown) => error);
    expect(await waitUntil(async () => (await blockedInWait()) !== undefined, 5000)).toBe(true);

    const started = Date.now();
    const plain = await producer.publish('plain', { routingKey: 'beside-wait' });
    const delivery = (await channel.basicGet('beside-wait')) as Delivery;
    const recorded = await onMaster.hexists('unacked', delivery.deliveryTag);
    await channel.basicAck(delivery.deliveryTag);
    const ms = Date.now() - started;

    expect(ms).toBeLessThan(1000);
    expect(await blockedInWait()).toMatch(/ name=kelp-confirm /);
    expect([recorded, await onMaster.hexists('unacked', delivery.deliveryTag)]).toEqual([1, 0]);
    const queued = (await onMaster.lrange('beside-wait', 0, -1)).map((s) => JSON.parse(s).properties.delivery_tag);
    expect(queued).toEqual([plain.deliveryTag]);
    expect(await confirming).toBeInstanceOf(PublishNotConfirmedError);
    expect(await waitCalls()).toBe(1);
  });
});
