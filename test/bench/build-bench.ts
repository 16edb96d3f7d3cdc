/** Builds packages/bench/dist from the sources under test: its child processes run the build. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../..', import.meta.url));

export async function buildBenchPackage(): Promise<void> {
  await build({
    entryPoints: [join(root, 'packages/bench/src/index.ts')],
    outfile: join(root, 'packages/bench/dist/index.js'),
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
}
