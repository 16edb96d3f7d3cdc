/**
 * Which server the integration tests start: Debian's `redis-server` by default, or Valkey's
 * `valkey-server` when `KELP_TEST_SERVER=valkey` (the `integration-valkey` vitest project sets
 * it). Every helper that spawns a server asks here, so one variable switches the whole run.
 */

/** The servers kelp is tested against; the key is the value of `KELP_TEST_SERVER`. */
const SERVERS = {
  redis: { binary: 'redis-server', aptInstall: 'redis-server', label: 'Redis' },
  // bookworm's own suites have no Valkey; backports has Valkey 8.
  valkey: { binary: 'valkey-server', aptInstall: '-t bookworm-backports valkey-server', label: 'Valkey' },
} as const;

export type TestServerKind = keyof typeof SERVERS;

export interface TestServer {
  kind: TestServerKind;
  /** The executable to run, looked up on PATH. */
  binary: string;
  /** The arguments after `apt-get install -y` that provide the binary on Debian bookworm. */
  aptInstall: string;
  /** The server's name for test titles and messages. */
  label: string;
}

export const TEST_SERVER_VARIABLE = 'KELP_TEST_SERVER';

const isKind = (value: string): value is TestServerKind => Object.hasOwn(SERVERS, value);

/** The server selected by `KELP_TEST_SERVER` (unset or empty: Redis); throws on an unknown name. */
export function testServer(env: NodeJS.ProcessEnv = process.env): TestServer {
  const value = env[TEST_SERVER_VARIABLE] || 'redis';
  if (!isKind(value)) {
    throw new Error(`${TEST_SERVER_VARIABLE}=${value} is not a known test server; use one of: ${Object.keys(SERVERS).join(', ')}`);
  }
  return { kind: value, ...SERVERS[value] };
}
