/** Raw-envelope robustness on redis://, LPUSHing straight into the queue list of a private db. */
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';
import { defineEnvelopeSuite } from './envelopes.js';

let db: Promise<FreshDb> | undefined;
let client: Redis | undefined;
const fresh = (): Promise<FreshDb> => (db ??= freshDb());

afterAll(async () => {
  await client?.quit();
});

defineEnvelopeSuite('redis', {
  url: async () => (await fresh()).url,
  transportOptions: { brpopTimeout: 0.2 },
  inject: async (queue, raw) => {
    const { host, port, db: number } = await fresh();
    client ??= new Redis({ host, port, db: number, lazyConnect: false });
    await client.lpush(queue, raw);
  },
});
