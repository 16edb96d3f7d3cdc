// A Redis for the bench runners: the URL given on the command line, or a private redis-server
// started on a free loopback port (test/setup/redis-server.ts's startRedisServer) and stopped
// when the run ends.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadRedisServer, root } from './load.mjs';

export async function useRedis(url) {
  if (url) return { url, stop: async () => undefined, started: false };
  if (!existsSync(join(root, 'test/setup/redis-server.ts'))) throw new Error('no URL given and test/setup/redis-server.ts is missing; pass a redis:// URL');
  const { startRedisServer } = await loadRedisServer();
  const server = await startRedisServer();
  return { url: `${server.url}/0`, stop: () => server.stop(), started: true };
}
