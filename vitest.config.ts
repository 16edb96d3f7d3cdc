import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against the TypeScript sources, not dist/, so that a test never passes on a stale build.
const src = (pkg: string, entry = 'index') => fileURLToPath(new URL(`./packages/${pkg}/src/${entry}.ts`, import.meta.url));
// A subpath entry comes before its package: an alias also matches the specifiers it prefixes.
const alias = {
  '@kelp/virtual/internal': src('virtual', 'internal'),
  '@kelp/hub': src('hub'),
  '@kelp/core': src('core'),
  '@kelp/virtual': src('virtual'),
  '@kelp/transport-memory': src('transport-memory'),
  '@kelp/transport-redis': src('transport-redis'),
  kelp: src('kelp'),
  '@kelp/bench': src('bench'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts'],
          testTimeout: 10_000,
          // Unit tests first (fast, no servers), then the integration project with its own limit.
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/setup/redis-global.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Fault and interop tests start processes; two at a time suits a 2-core machine.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
