/**
 * vitest globalSetup of the 'integration' project: one redis-server for the whole run. Test
 * files read its URL with `inject('redisUrl')` and take a private db with `freshDb()`.
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:<port>` of the shared test server (no db path). */
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}
