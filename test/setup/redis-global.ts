/**
 * vitest globalSetup of the integration projects: one server for the whole run, `redis-server`
 * or, in the project that sets `KELP_TEST_SERVER=valkey` in its `env`, `valkey-server`. Test
 * files read its URL with `inject('redisUrl')` and take a private db with `freshDb()`.
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer } from './redis-server.js';
import { testServer, type TestServerKind } from './test-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:<port>` of the shared test server (no db path). */
    redisUrl: string;
    /** Which server the project runs against (`redis` or `valkey`). */
    redisServerKind: TestServerKind;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // globalSetup runs in the main process, which the project's `env` does not reach.
  const server = testServer({ ...process.env, ...project.config.env });
  const handle = await startRedisServer({ server });
  project.provide('redisUrl', handle.url);
  project.provide('redisServerKind', server.kind);
  return () => handle.stop();
}
