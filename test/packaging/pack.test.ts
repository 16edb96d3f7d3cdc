/**
 * The packages as a user gets them: `npm pack` every shipped package, install the tarballs into
 * an empty project (their npm dependencies come from the npm cache that `npm install` filled),
 * and there publish and consume on memory:// once through `import` and once through `require`,
 * type-check a consumer as ESM and as CommonJS, and run the installed `kelp` command.
 * Packs the dist that `npm run build` made (`npm test` builds first).
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = fileURLToPath(new URL('./consumer/', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  main?: string;
}
const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

/** Every published workspace package, by its folder under the repository root. */
const SHIPPED = new Map(
  (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces
    .map((folder) => [folder, readManifest(join(root, folder))] as const)
    .filter(([, manifest]) => !manifest.private),
);
/** The library packages (ESM and CommonJS); the one with a `bin` is the CLI. */
const LIBRARIES = [...SHIPPED.values()].filter((manifest) => !manifest.bin && manifest.main?.includes('/cjs/'));
/** Packages the CLI loads, ESM only (the dashboard, which ships its page in `public/`). */
const ESM_ONLY = [...SHIPPED.values()].filter((manifest) => !manifest.bin && !manifest.main?.includes('/cjs/'));
const CLI = [...SHIPPED.values()].find((manifest) => manifest.bin)!;

/** The parent npm's settings (workspace, prefix, ...) stay out of the child npm runs. */
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));

function run(command: string, args: readonly string[], cwd: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function newestMtime(dir: string): number {
  return Math.max(
    ...readdirSync(dir, { withFileTypes: true }).map((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs;
    }),
  );
}

/** Fails unless every build output is newer than every source file of its package. */
function assertFreshBuild(): void {
  for (const [folder, manifest] of SHIPPED) {
    const outputs = manifest.bin
      ? Object.values(manifest.bin)
      : ESM_ONLY.includes(manifest)
        ? ['dist/index.js']
        : ['dist/index.js', 'dist/cjs/index.js', 'dist/cjs/index.d.ts'];
    const sources = newestMtime(join(root, folder, 'src'));
    for (const output of outputs) {
      const path = join(root, folder, output);
      let built = 0;
      try {
        built = statSync(path).mtimeMs;
      } catch {
        // a missing output is reported below as older than its sources
      }
      if (built < sources) throw new Error(`${join(folder, output)} is missing or older than its sources: run npm run build first (npm test does)`);
    }
  }
}

/** Bare module names a built JavaScript file imports or requires. */
function importedModules(text: string): Set<string> {
  const names = new Set<string>();
  // A module name has no spaces or parentheses: that keeps a string literal "from" followed by
  // code (an object key, an argument) from reading as an import.
  for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\(\s*)"([^".\s()][^"\s()]*)"/g)) {
    const spec = match[1]!;
    const parts = spec.split('/');
    names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
  }
  return names;
}

function* javascriptFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* javascriptFiles(path);
    else if (/\.[cm]?js$/.test(entry.name)) yield path;
  }
}

interface PackResult {
  name: string;
  filename: string;
  files: Array<{ path: string }>;
}

let work: string;
let app: string;
let packed: PackResult[];

beforeAll(async () => {
  assertFreshBuild();
  work = mkdtempSync(join(tmpdir(), 'kelp-pack-'));
  app = join(work, 'app');
  const workspaces = [...SHIPPED.keys()].flatMap((folder) => ['--workspace', folder]);
  packed = JSON.parse(await run('npm', ['pack', '--json', '--pack-destination', work, ...workspaces], root)) as PackResult[];

  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'kelp-consumer', private: true, type: 'module' })}\n`);
  const tarballs = packed.map((pack) => join(work, pack.filename));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', ...tarballs], app, 90_000);
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed packages installed into an empty project', () => {
  it('ship their ESM and CommonJS builds with declarations for both, and the CLI ships only its command', () => {
    const filesOf = (name: string): string[] => packed.find((pack) => pack.name === name)!.files.map((file) => file.path).sort();
    expect(packed.map((pack) => pack.name).sort()).toEqual([...SHIPPED.values()].map((manifest) => manifest.name).sort());
    for (const { name } of LIBRARIES) {
      const files = filesOf(name);
      expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json']));
      expect(files.filter((path) => !path.startsWith('dist/') && !['package.json', 'README.md'].includes(path))).toEqual([]);
      expect(files.filter((path) => path.endsWith('.tsbuildinfo') || path.endsWith('.d.ts.map'))).toEqual([]);
    }
    for (const { name } of ESM_ONLY) {
      const files = filesOf(name);
      expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'public/index.html', 'public/app.js']));
      expect(files.filter((path) => !path.startsWith('dist/') && !path.startsWith('public/') && !['package.json', 'README.md'].includes(path))).toEqual([]);
      expect(files.filter((path) => path.endsWith('.tsbuildinfo') || path.endsWith('.d.ts.map'))).toEqual([]);
    }
    expect(filesOf(CLI.name)).toEqual([...Object.values(CLI.bin!).map((path) => path.replace(/^\.\//, '')), 'package.json'].sort());
  });

  it('import only Node built-ins and the dependencies they declare', () => {
    const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
    for (const { name } of SHIPPED.values()) {
      const dir = join(app, 'node_modules', name);
      // An optional peer (the CLI's lazily loaded @kelp/bench) is declared too.
      const manifest = readManifest(dir);
      const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
      const undeclared = new Set<string>();
      for (const file of javascriptFiles(dir)) {
        for (const module of importedModules(readFileSync(file, 'utf8'))) if (!builtins.has(module) && !declared.has(module)) undeclared.add(`${module} (${file.slice(dir.length + 1)})`);
      }
      expect([...undeclared], name).toEqual([]);
    }
  });

  it('publish and consume on memory:// through import, from the ESM build', async () => {
    copyFileSync(join(fixtures, 'round-trip.mjs'), join(app, 'round-trip.mjs'));
    const out = JSON.parse(await run(process.execPath, ['round-trip.mjs'], app, 20_000));
    expect(out).toEqual({ body: { id: 'esm-1', via: 'import' }, entry: join(app, 'node_modules/kelp/dist/index.js'), oneKelpError: true });
  });

  it('publish and consume on memory:// through require, from the CommonJS build', async () => {
    copyFileSync(join(fixtures, 'round-trip.cjs'), join(app, 'round-trip.cjs'));
    const out = JSON.parse(await run(process.execPath, ['round-trip.cjs'], app, 20_000));
    expect(out).toEqual({ body: { id: 'cjs-1', via: 'require' }, entry: join(app, 'node_modules/kelp/dist/cjs/index.js'), oneKelpError: true });
  });

  it('give TypeScript declarations to an ES module and to a CommonJS consumer', async () => {
    copyFileSync(join(fixtures, 'types.ts'), join(app, 'types.ts'));
    copyFileSync(join(fixtures, 'types.ts'), join(app, 'types.cts'));
    const tsconfig = {
      compilerOptions: {
        // node16 refuses to require an ES module, so the .cts passes only with CommonJS declarations.
        module: 'node16',
        target: 'es2022',
        lib: ['ES2023', 'ESNext.Disposable'],
        strict: true,
        noEmit: true,
        // The consumer files are what is checked; a declaration kelp ships that fails to resolve
        // still shows, as `any` under the @ts-expect-error line.
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
      },
      files: ['types.ts', 'types.cts'],
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    await expect(run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app, 60_000)).resolves.toBe('');
  }, 70_000);

  it('install a kelp command that runs', async () => {
    await expect(run(join(app, 'node_modules', '.bin', 'kelp'), ['--version'], app, 20_000)).resolves.toBe(`kelp ${CLI.version}\n`);
  });

  it('install a kelp dashboard that serves its page and chart library from the installed packages', async () => {
    const child = spawn(join(app, 'node_modules', '.bin', 'kelp'), ['dashboard', 'memory://', '--json'], { cwd: app, env });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
        });
        child.once('exit', (code) => reject(new Error(`kelp dashboard exited with ${code}`)));
      });
      const { url } = JSON.parse(line) as { url: string };
      const statuses = await Promise.all(['/', '/assets/app.js', '/assets/uplot.js', '/assets/uplot.css'].map(async (path) => (await fetch(new URL(path, url))).status));
      expect(statuses).toEqual([200, 200, 200, 200]);
    } finally {
      child.kill('SIGINT');
    }
  });
});
