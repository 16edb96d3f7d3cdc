import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

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
  '@kelp/celery': src('celery'),
  kelp: src('kelp'),
  '@kelp/dashboard': src('dashboard'),
  '@kelp/bench': src('bench'),
};

/** The integration tests' settings; the Redis and the Valkey passes differ only in server and files. */
const integration = {
  include: ['test/**/*.test.ts'],
  globalSetup: ['test/setup/redis-global.ts'],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  // Fault and interop tests start processes; two at a time suits a 2-core machine.
  maxWorkers: 2,
};

/**
 * What runs a second time on `valkey-server` (KELP_TEST_SERVER=valkey, see
 * test/setup/test-server.ts): every file that exercises the server itself, the whole Redis
 * transport and fault suites, bad input and the Python interop. Not rerun: the files no server
 * takes part in, and the layers above the transport whose Valkey behaviour is the transport's:
 * the CLI, the dashboard, the benchmark drivers, and the Celery faults and monitoring suites
 * (their server-side steps are the fault suite's and the fanout conformance cases').
 */
const SERVER_BACKED = ['test/{redis,faults,interop}/**/*.test.ts', 'test/bad-input/redis.test.ts'];
const NOT_ON_VALKEY = ['test/interop/celery-faults.test.ts', 'test/interop/celery-monitoring.test.ts'];

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
        test: { ...integration, name: 'integration', sequence: { groupOrder: 1 } },
      },
      {
        resolve: { alias },
        test: {
          ...integration,
          name: 'integration-valkey',
          include: SERVER_BACKED,
          exclude: [...configDefaults.exclude, ...NOT_ON_VALKEY],
          env: { KELP_TEST_SERVER: 'valkey' },
          // After the Redis pass, so the two never compete for the two cores.
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
