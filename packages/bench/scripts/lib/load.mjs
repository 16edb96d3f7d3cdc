// What the runners load: this package's build (dist/, which `npm run bench` builds first; 'kelp'
// resolves to packages/kelp/dist, the code users run) and the test suite's redis-server helper,
// which esbuild bundles into .build/ because Node cannot import TypeScript.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** packages/bench */
export const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The repository root. */
export const root = join(packageDir, '..', '..');

/** The benchmark drivers (packages/bench/src, built). */
export function loadDrivers() {
  return import(pathToFileURL(join(packageDir, 'dist', 'index.js')).href);
}

/** The Redis test helper's startRedisServer (test/setup/redis-server.ts). */
export async function loadRedisServer() {
  const outfile = join(packageDir, '.build', 'redis-server.mjs');
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(root, 'test', 'setup', 'redis-server.ts')],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}
