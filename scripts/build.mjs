#!/usr/bin/env node
// Builds every workspace package. esbuild emits each entry of a library package (index, and
// internal where there is one) twice, other packages and npm dependencies left as imports:
//   dist/<entry>.js       ESM, for `import`
//   dist/cjs/<entry>.js   CommonJS, for `require` (dist/cjs/package.json says "commonjs")
// tsc --build emits the type declarations and type-checks the whole tree; the declarations are
// then copied under dist/cjs so that TypeScript reads them as CommonJS for `require` users.
//
// The CommonJS build requires the CommonJS build of its dependencies instead of inlining them:
// a CommonJS program then holds one copy of each package, so a transport registered through
// `require('@kelp/core')` is visible to `require('kelp')`, and `instanceof KelpError` holds for
// errors thrown anywhere in kelp. A program that loads kelp both ways holds two copies (the
// dual-package hazard), each with its own transport registry and error classes.
//
// The CLI is one ESM bundle of its own sources that imports `kelp` like any other user, so the
// installed command needs exactly the dependency it declares.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const libraries = ['hub', 'core', 'virtual', 'transport-memory', 'transport-redis', 'celery', 'kelp'];
const dist = (name, ...path) => join(root, 'packages', name, 'dist', ...path);

const common = {
  bundle: true,
  packages: 'external',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
};
// The private benchmark package (@kelp/bench) is ESM only: it is never published. The dashboard is
// ESM only too: it is loaded by the CLI (an ESM bundle), never required by applications.
const privatePackages = ['bench'];
const esmPackages = ['dashboard'];

const started = Date.now();
// Each package's public entry, and its `internal` entry where it has one (package.json exports).
const entries = libraries.flatMap((name) =>
  ['index', 'internal'].filter((entry) => existsSync(join(root, 'packages', name, 'src', `${entry}.ts`))).map((entry) => ({ name, entry })),
);
for (const name of libraries) {
  mkdirSync(dist(name, 'cjs'), { recursive: true });
  writeFileSync(dist(name, 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
}
await Promise.all(
  entries.flatMap(({ name, entry }) => {
    const entryPoints = [join(root, 'packages', name, 'src', `${entry}.ts`)];
    return [
      build({ ...common, entryPoints, outfile: dist(name, `${entry}.js`), format: 'esm' }),
      build({ ...common, entryPoints, outfile: dist(name, 'cjs', `${entry}.js`), format: 'cjs' }),
    ];
  }),
);

await Promise.all(
  [...privatePackages, ...esmPackages].map((name) =>
    build({ ...common, entryPoints: [join(root, 'packages', name, 'src', 'index.ts')], outfile: dist(name, 'index.js'), format: 'esm' }),
  ),
);

// `packages: 'external'` keeps @kelp/bench out of the CLI too: `kelp bench` imports it lazily.
const cliEntry = join(root, 'packages', 'cli', 'src', 'main.ts');
if (existsSync(cliEntry)) {
  const outfile = dist('cli', 'kelp.js');
  await build({ ...common, entryPoints: [cliEntry], outfile, format: 'esm', banner: { js: '#!/usr/bin/env node' } });
  chmodSync(outfile, 0o755);
}

if (!process.argv.includes('--no-types')) {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--build'], {
    cwd: root,
    stdio: 'inherit',
  });
  for (const name of libraries) copyDeclarations(dist(name), dist(name, 'cjs'));
}
process.stdout.write(`build: ${libraries.length + esmPackages.length} packages, the benchmarks and the CLI in ${Date.now() - started} ms\n`);

/**
 * Copies the declarations under `from` (skipping `to` itself) into `to` at the same relative
 * paths. The source-map comment is dropped: the maps sit next to the originals.
 */
function copyDeclarations(from, to) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      if (source !== to) copyDeclarations(source, target);
    } else if (entry.name.endsWith('.d.ts')) {
      mkdirSync(to, { recursive: true });
      writeFileSync(target, readFileSync(source, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n'));
    }
  }
}
