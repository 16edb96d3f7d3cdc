/**
 * kelp's ioredis clients fail a command that was written but not answered as soon as the socket
 * closes (connections.ts, FailFastRedis), on every role, and keep doing so after the command
 * connection has replaced its Set of unanswered commands by a copy (every 1,024 settled ones).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNANSWERED_MESSAGE, closeClient, connectClient, createClient, type ConnectionRole } from '../../packages/transport-redis/src/connections.js';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';

let db: FreshDb;
let admin: Redis;
beforeAll(async () => {
  db = await freshDb();
  admin = new Redis(db.url);
});
afterAll(() => admin.quit());

/** Starts a BLPOP that Redis will not answer for 10 s, kills the connection, and times the rejection. */
async function killWhileBlocked(client: Redis): Promise<{ message: string; ms: number }> {
  const id = Number(await client.client('ID'));
  const started = performance.now();
  const blocked = client.blpop('fail-fast:nothing', 10).then(
    () => ({ message: 'answered', ms: performance.now() - started }),
    (error: Error) => ({ message: error.message, ms: performance.now() - started }),
  );
  // Redis has the BLPOP once CLIENT LIST shows it as the connection's current command.
  const blockedNow = async (): Promise<boolean> =>
    String(await admin.client('LIST')).split('\n').some((line) => line.startsWith(`id=${id} `) && line.includes('cmd=blpop'));
  for (let tries = 0; tries < 200 && !(await blockedNow()); tries++) await new Promise((resolve) => setTimeout(resolve, 10));
  await admin.client('KILL', 'ID', String(id));
  return blocked;
}

describe('a command written but unanswered when the socket closes', () => {
  // The poll connection (maxRetriesPerRequest 0) has ioredis flush it with its own error first.
  it.each<[ConnectionRole, RegExp]>([
    ['command', new RegExp(`^${UNANSWERED_MESSAGE}$`)],
    ['poll', /Socket closed unexpectedly|max retries per request/],
  ])('is rejected at once on the %s connection', async (role, expected) => {
    const client = createClient(role, { base: { host: '127.0.0.1', port: db.port, db: db.db }, onError: () => undefined });
    try {
      await connectClient(client);
      // Past two copies of the command connection's Set: the tracking must survive them.
      for (let i = 0; i < 2500; i += 500) await Promise.all(Array.from({ length: 500 }, () => client.ping()));
      const { message, ms } = await killWhileBlocked(client);
      expect(message).toMatch(expected);
      expect(ms).toBeLessThan(5000);
    } finally {
      await closeClient(client);
    }
  });
});
