// Loads TypeScript modules the bench runners need without a TS loader: esbuild bundles each
// entry into bench/.build/ (workspace packages and npm dependencies stay imports, so 'kelp'
// resolves to the built packages/kelp/dist, the code users run), then it is imported.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = join(root, 'bench', '.build');

async function bundle(entry, name) {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `${name}.mjs`);
  await build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}

/** The benchmark drivers of `kelp bench` (packages/cli/src/bench). */
export function loadDrivers() {
  return bundle('packages/cli/src/bench/index.ts', 'drivers');
}

/** The Redis test helper's startRedisServer (test/setup/redis-server.ts), reused as the issue asks. */
export function loadRedisServer() {
  return bundle('test/setup/redis-server.ts', 'redis-server');
}
