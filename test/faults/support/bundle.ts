/**
 * Child processes (consumer workers, the `kelp` CLI) run a bundle built here with esbuild from the
 * TypeScript sources, exactly as vitest resolves them: a fault test never passes or fails on a
 * stale dist/. npm dependencies stay external and resolve from the repo's node_modules, which is
 * why bundles are written inside the repo (test/faults/.build, git-ignored).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const buildDir = join(repoRoot, 'test', 'faults', '.build');

const src = (pkg: string) => join(repoRoot, 'packages', pkg, 'src', 'index.ts');
const alias: Record<string, string> = {
  '@kelp/hub': src('hub'),
  '@kelp/core': src('core'),
  '@kelp/virtual': src('virtual'),
  '@kelp/virtual/internal': join(repoRoot, 'packages', 'virtual', 'src', 'internal.ts'),
  '@kelp/transport-memory': src('transport-memory'),
  '@kelp/transport-redis': src('transport-redis'),
  kelp: src('kelp'),
};

export interface Bundle {
  file: string;
  remove(): void;
}

/** Bundles `entry` (absolute path) into a private .mjs for this test process. */
export async function bundle(entry: string, name: string): Promise<Bundle> {
  mkdirSync(buildDir, { recursive: true });
  const file = join(buildDir, `${name}-${process.pid}-${Date.now()}.mjs`);
  await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    alias,
    external: ['ioredis', 'zod', '@msgpack/msgpack', 'esbuild'],
    logLevel: 'error',
    sourcemap: 'inline',
  });
  return { file, remove: () => rmSync(file, { force: true }) };
}

export const consumerWorkerEntry = join(repoRoot, 'test', 'faults', 'support', 'consumer-worker.ts');
export const cliEntry = join(repoRoot, 'packages', 'cli', 'src', 'main.ts');
