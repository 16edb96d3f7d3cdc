#!/usr/bin/env node
// Enforces the layering table of the design: a package may import only the packages its row
// allows (and Node built-ins). Both the source imports and package.json dependencies are checked,
// so a forbidden edge fails `npm test` before it becomes an accident of the build order. A
// package may also load another lazily (`import('...')`) where its row says so: the CLI loads
// the private benchmark package that way, and may declare it only as an optional peer.
// It also refuses import cycles between modules of a package (type-only imports included): a
// cycle means two files cannot be read, tested or changed one without the other.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Who may import whom: workspace packages by folder name, npm packages by name. */
const allowed = {
  hub: [],
  core: ['hub', 'zod', '@msgpack/msgpack'],
  virtual: ['core', 'hub', 'zod'],
  'transport-memory': ['virtual', 'core'],
  'transport-redis': ['virtual', 'core', 'hub', 'ioredis', 'zod'],
  celery: ['core', 'hub', 'ioredis', 'zod'],
  kelp: ['hub', 'core', 'virtual', 'transport-memory', 'transport-redis', 'celery'],
  // The page's HTTP server and the chart library it serves to the browser (never imported by Node).
  dashboard: ['kelp', 'hono', '@hono/node-server', 'uplot'],
  cli: ['kelp', 'dashboard'],
  // Private: its micro-suites time virtual's codec, and its runners bundle the test suite's
  // redis-server helper with esbuild.
  bench: ['kelp', 'virtual', 'ioredis', 'tinybench', 'bullmq', 'esbuild', 'celery-node'],
};
/** Packages a package may load only through a dynamic `import()`, never as a dependency. */
const lazy = {
  cli: ['bench'],
};
/** Where a package's code lives, beyond `src` (the benchmark runners and child processes). */
const codeDirs = {
  bench: ['src', 'bin', 'children', 'scripts', 'suites'],
};
const workspaceName = {
  hub: '@kelp/hub',
  core: '@kelp/core',
  virtual: '@kelp/virtual',
  'transport-memory': '@kelp/transport-memory',
  'transport-redis': '@kelp/transport-redis',
  celery: '@kelp/celery',
  kelp: 'kelp',
  dashboard: '@kelp/dashboard',
  cli: '@kelp/cli',
  bench: '@kelp/bench',
};
const folderOf = Object.fromEntries(Object.entries(workspaceName).map(([k, v]) => [v, k]));
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function* sourceFiles(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.(ts|mts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) yield path;
  }
}

function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const importPattern = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;
const problems = [];
/** Module file -> the module files of its package it imports (relative specifiers). */
const moduleGraph = new Map();

/** The source file a relative specifier names (`./x.js` is written for `./x.ts`). */
function resolveRelative(file, spec) {
  const base = resolve(dirname(file), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((path) => existsSync(path) && statSync(path).isFile());
}


for (const [folder, may] of Object.entries(allowed)) {
  const mayNames = new Set(may.map((m) => workspaceName[m] ?? m));
  const lazyNames = new Set((lazy[folder] ?? []).map((m) => workspaceName[m] ?? m));
  const pkg = JSON.parse(readFileSync(join(root, 'packages', folder, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    if (!mayNames.has(dep)) problems.push(`packages/${folder}/package.json depends on ${dep}, which the design does not allow`);
  }
  for (const peer of Object.keys(pkg.peerDependencies ?? {})) {
    const optional = pkg.peerDependenciesMeta?.[peer]?.optional === true;
    if (!mayNames.has(peer) && !(lazyNames.has(peer) && optional)) {
      problems.push(`packages/${folder}/package.json has the peer dependency ${peer}, which the design does not allow${lazyNames.has(peer) ? ' unless optional' : ''}`);
    }
  }
  for (const dir of codeDirs[folder] ?? ['src']) {
    const path = join(root, 'packages', folder, dir);
    if (!existsSync(path)) continue;
    for (const file of sourceFiles(path)) {
      const text = readFileSync(file, 'utf8');
      const imported = new Set();
      moduleGraph.set(file, imported);
      for (const match of text.matchAll(importPattern)) {
        const spec = match[1] ?? match[2] ?? match[3];
        if (spec?.startsWith('.')) {
          const target = resolveRelative(file, spec);
          if (target) imported.add(target);
          continue;
        }
        if (!spec || builtins.has(spec)) continue;
        const name = packageOf(spec);
        const dynamic = match[2] !== undefined;
        if (mayNames.has(name) || (dynamic && lazyNames.has(name))) continue;
        const what = folderOf[name] ? `the ${folderOf[name]} package` : name;
        const only = `packages/${folder} may import only: ${may.join(', ') || 'nothing'}${lazyNames.size ? `, and lazily (import()): ${lazy[folder].join(', ')}` : ''}`;
        problems.push(`${relative(root, file)} imports ${spec} (${what})${lazyNames.has(name) ? ' statically' : ''}; ${only}`);
      }
    }
  }
}

/**
 * One cycle through every strongly connected group of modules (Tarjan), as the file path list
 * `a -> b -> ... -> a`: breaking the cycles shown, then running again, finds any others.
 */
function importCycles(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const groups = [];
  let next = 0;
  const visit = (node) => {
    index.set(node, next);
    low.set(node, next);
    next += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node), low.get(target)));
      } else if (onStack.has(target)) low.set(node, Math.min(low.get(node), index.get(target)));
    }
    if (low.get(node) !== index.get(node)) return;
    const group = new Set();
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      group.add(member);
    } while (member !== node);
    if (group.size > 1 || graph.get(node)?.has(node)) groups.push(group);
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return groups.map((group) => shortestCycle(graph, group));
}

/** The shortest path from the group's first file (by name) back to itself, inside the group. */
function shortestCycle(graph, group) {
  const [start] = [...group].sort();
  const previous = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const target of graph.get(node) ?? []) {
      if (!group.has(target)) continue;
      if (target === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]));
        return [...path, start];
      }
      if (previous.has(target)) continue;
      previous.set(target, node);
      queue.push(target);
    }
  }
  return [start, start];
}

for (const cycle of importCycles(moduleGraph)) {
  problems.push(`import cycle: ${cycle.map((file) => relative(root, file)).join(' -> ')}`);
}

if (problems.length > 0) {
  process.stderr.write(`check-imports: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('check-imports: every package imports only what the design allows, and no module imports itself back\n');
