/**
 * Child processes of the tests (consumer workers, crash fixtures, the `kelp` CLI) run a bundle
 * built here with esbuild from the TypeScript sources, resolved as vitest.config.ts resolves
 * them: no test passes or fails on a stale dist/. npm dependencies stay external and resolve
 * from the repository's node_modules, which is why bundles are written inside it.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const entry = (pkg: string, file = 'index') => join(repoRoot, 'packages', pkg, 'src', `${file}.ts`);

// A subpath entry comes before its package: an alias also matches the specifiers it prefixes.
const sourceAliases: Record<string, string> = {
  '@kelp/virtual/internal': entry('virtual', 'internal'),
  '@kelp/hub': entry('hub'),
  '@kelp/core': entry('core'),
  '@kelp/virtual': entry('virtual'),
  '@kelp/transport-memory': entry('transport-memory'),
  '@kelp/transport-redis': entry('transport-redis'),
  '@kelp/celery': entry('celery'),
  kelp: entry('kelp'),
};

const bundleDir = join(repoRoot, 'node_modules', '.cache', 'kelp-test-bundles');

export interface ChildBundle {
  /** The .mjs to run with `node`. */
  file: string;
  remove(): void;
}

/** What to bundle: a module file, or TypeScript source given inline (imports resolve from `resolveDir`). */
export type ChildSource = { entry: string } | { source: string; resolveDir: string };

/** Bundles `source` into a private .mjs for this test process, named after `name`. */
export async function bundleChild(source: ChildSource, name: string): Promise<ChildBundle> {
  mkdirSync(bundleDir, { recursive: true });
  const file = join(bundleDir, `${name}-${process.pid}-${Date.now()}.mjs`);
  await build({
    ...('entry' in source
      ? { entryPoints: [source.entry] }
      : { stdin: { contents: source.source, resolveDir: source.resolveDir, loader: 'ts', sourcefile: `${name}.ts` } }),
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    alias: sourceAliases,
    external: ['ioredis', 'zod', '@msgpack/msgpack', 'esbuild'],
    logLevel: 'error',
    sourcemap: 'inline',
  });
  return { file, remove: () => rmSync(file, { force: true }) };
}
