#!/usr/bin/env node
// Builds every workspace package: esbuild emits the JavaScript (one ESM file per package, with
// other packages and npm dependencies left as imports), tsc --build emits the type declarations
// and type-checks the whole tree, and the CLI gets a single self-contained bundle so that
// `kelp` starts fast and runs from a fresh clone without further set-up.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const packages = ['hub', 'core', 'virtual', 'transport-memory', 'transport-redis', 'kelp', 'cli', 'bench'];

const started = Date.now();
// Each package's public entry, and its `internal` entry where it has one (package.json exports).
const entries = packages.flatMap((name) =>
  ['index', 'internal'].filter((entry) => existsSync(join(root, 'packages', name, 'src', `${entry}.ts`))).map((entry) => ({ name, entry })),
);
await Promise.all(
  entries.map(({ name, entry }) =>
    build({
      entryPoints: [join(root, 'packages', name, 'src', `${entry}.ts`)],
      outfile: join(root, 'packages', name, 'dist', `${entry}.js`),
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: 'linked',
      logLevel: 'warning',
    }),
  ),
);

// The CLI bundle inlines the workspace packages; npm dependencies stay external so that one
// copy of ioredis/zod is shared with anything else the user loads. The private benchmark
// package stays external too: `kelp bench` imports it lazily, only where it is installed.
const cliEntry = join(root, 'packages', 'cli', 'src', 'main.ts');
if (existsSync(cliEntry)) {
  const outfile = join(root, 'packages', 'cli', 'dist', 'kelp.js');
  await build({
    entryPoints: [cliEntry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
    external: ['ioredis', 'zod', '@msgpack/msgpack', '@kelp/bench'],
    banner: { js: '#!/usr/bin/env node' },
  });
  chmodSync(outfile, 0o755);
}

if (!process.argv.includes('--no-types')) {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--build'], {
    cwd: root,
    stdio: 'inherit',
  });
}
process.stdout.write(`build: ${packages.length} packages in ${Date.now() - started} ms\n`);
