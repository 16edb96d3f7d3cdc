/**
 * Spawns a throw-away `redis-server` (Debian's binary; there is no Docker here), or
 * `valkey-server` when `KELP_TEST_SERVER=valkey` (see test-server.ts), on a free loopback port, for integration and fault tests. Persistence is off unless a test asks for it
 * with `extraArgs` (e.g. `['--appendonly', 'yes']`), and 1024 databases let every test file
 * take its own db via {@link freshDb} instead of flushing a shared one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand } from './prerequisites.js';
import { testServer, type TestServer } from './test-server.js';

export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--appendonly', 'yes']` or TLS settings. */
  extraArgs?: readonly string[];
  /** Port to listen on; a free one is probed when omitted. */
  port?: number;
  /** How long to wait for the first PONG (ms). */
  startTimeoutMs?: number;
  /** Which server to run (default: the one `KELP_TEST_SERVER` selects in this process). */
  server?: TestServer;
  /** Binary to run (default: the server's, `redis-server` or `valkey-server`, from PATH). */
  binary?: string;
  /**
   * Run a Sentinel with this config file (written into the server's directory, where Sentinel
   * rewrites it) instead of a data server.
   */
  sentinelConfig?: string;
}

export interface RedisServerHandle {
  readonly port: number;
  readonly url: string;
  /** The server's working directory (AOF/RDB files land here). */
  readonly dir: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL after 2 s) and removes its directory. */
  stop(): Promise<void>;
  /** Kills the server without letting it save or clean up (fault tests). */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Asks the OS for a free loopback port by binding port 0 and releasing it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends one inline PING; true on `+PONG` or an auth error (a server with requirepass is up too). */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const server = options.server ?? testServer();
  const binary = options.binary ?? requireCommand(server.binary, ['--version'], server.aptInstall);
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'kelp-redis-'));
  const dataArgs = ['--save', '', '--appendonly', 'no', '--databases', '1024', '--dir', dir];
  const sentinelArgs = (config: string): string[] => {
    const file = join(dir, 'sentinel.conf');
    writeFileSync(file, config);
    return [file, '--sentinel'];
  };
  const args = [
    ...(options.sentinelConfig === undefined ? [] : sentinelArgs(options.sentinelConfig)),
    '--port', String(port),
    '--bind', '127.0.0.1',
    ...(options.sentinelConfig === undefined ? dataArgs : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
  child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If this process dies without stopping the server (vitest killed, SIGKILL), nothing would
  // stop it: a reaper shell blocks on our pipe and kills the server when the pipe closes.
  const reaper = spawn('sh', ['-c', `cat >/dev/null; kill -9 ${child.pid} 2>/dev/null`], { stdio: ['pipe', 'ignore', 'ignore'] });
  reaper.unref();
  (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    if (child.exitCode !== null) {
      reaper.kill('SIGKILL');
      throw new Error(`${binary} exited (${child.exitCode}) on port ${port}:\n${output}`);
    }
    if (await pingOnce(port)) break;
    if (Date.now() > deadline) {
      reaper.kill('SIGKILL');
      child.kill('SIGKILL');
      throw new Error(`${binary} did not answer PING on port ${port} in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const stopWith = async (signal: NodeJS.Signals, cleanup: boolean) => {
    // The reaper goes first, so it can never hit a reused pid later.
    reaper.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    if (cleanup) rmSync(dir, { recursive: true, force: true });
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    process: child,
    stop: () => stopWith('SIGTERM', true),
    kill: (signal = 'SIGKILL') => stopWith(signal, false),
  };
}
