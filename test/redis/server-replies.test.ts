/**
 * Replies that differ between Redis and Valkey, checked on the server the project runs against
 * (KELP_TEST_SERVER, see test/setup/test-server.ts): kelp reacts to an error reply's code, so
 * Valkey's own wording of NOSCRIPT, and its NOSUB where Redis answers a count, change nothing.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { replyCode } from '../../packages/transport-redis/src/errors.js';
import { FanoutSubscriptions } from '../../packages/transport-redis/src/fanout-subscriptions.js';
import { ackTags, defineScripts } from '../../packages/transport-redis/src/scripts.js';
import { freshDb } from '../setup/fresh-db.js';
import { startRedisServer } from '../setup/redis-server.js';
import { testServer } from '../setup/test-server.js';

const server = testServer();
let redis: Redis;

beforeAll(async () => {
  redis = new Redis((await freshDb()).url);
});
afterAll(() => redis.quit());

/** `valkey` when INFO server carries valkey_version, else `redis`. */
async function kindOf(client: Redis): Promise<string> {
  return /^valkey_version:/m.test(await client.info('server')) ? 'valkey' : 'redis';
}

describe(`replies of the ${server.label} test server`, () => {
  it(`runs ${server.label}, the shared server and one a test starts alike`, async () => {
    expect([inject('redisServerKind'), await kindOf(redis)]).toEqual([server.kind, server.kind]);
    const own = await startRedisServer();
    const client = new Redis(own.url);
    try {
      expect(await kindOf(client)).toBe(server.kind);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });

  it('answers an unknown script with the NOSCRIPT code, whatever its wording', async () => {
    const error: unknown = await redis.evalsha('0'.repeat(40), 0).catch((e: unknown) => e);
    expect(replyCode(error)).toBe('NOSCRIPT');
  });

  it('runs a kelp script again after SCRIPT FLUSH (EVALSHA answered NOSCRIPT, EVAL reloads it)', async () => {
    // A server of its own: SCRIPT FLUSH empties the script cache of every client of the server.
    const own = await startRedisServer();
    const client = new Redis(own.url);
    defineScripts(client);
    try {
      await client.hset('unacked', 'a', '1', 'b', '2');
      await client.zadd('unacked_index', 1, 'a', 2, 'b');
      expect(await ackTags(client, 'unacked', 'unacked_index', ['a'])).toBe(1);
      await client.script('FLUSH');
      expect(await ackTags(client, 'unacked', 'unacked_index', ['b'])).toBe(1);
      expect([await client.hlen('unacked'), await client.zcard('unacked_index')]).toEqual([0, 0]);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });

  it('drops a fanout pattern the connection is no longer subscribed to without reporting an error', async () => {
    const client = new Redis((await freshDb()).url);
    const errors: Error[] = [];
    let patterns = ['kelp-fanout/one.*'];
    let revision = 0;
    const subscriptions = new FanoutSubscriptions(client, {
      patterns: () => patterns,
      revision: () => revision,
      usable: () => true,
      onError: (error) => errors.push(error),
    });
    try {
      await client.ping();
      await subscriptions.sync();
      // Unsubscribed behind its back: the connection leaves subscribe mode, so the next
      // PUNSUBSCRIBE is stray (Valkey answers NOSUB, Redis a count of 0).
      await client.punsubscribe('kelp-fanout/one.*');
      patterns = [];
      revision += 1;
      await subscriptions.sync();
      const info = String(await client.call('CLIENT', 'INFO'));
      expect([errors.map((e) => e.message), /\bpsub=(\d+)/.exec(info)?.[1]]).toEqual([[], '0']);
    } finally {
      client.disconnect();
    }
  });
});
