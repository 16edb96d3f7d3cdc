/**
 * A private redis-server per fault scenario (restarts, ACL users, TLS, SLOWLOG must never touch
 * the shared test server). Built on the shared harness's `startRedisServer`; adds a fixed data
 * directory so a restart on the same port finds its AOF again, and an admin ioredis client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startRedisServer, type RedisServerHandle } from '../../setup/redis-server.js';

export interface FaultRedisOptions {
  /** AOF on with `appendfsync always`: every acknowledged write survives a SIGKILL. */
  aof?: boolean;
  extraArgs?: readonly string[];
}

export class FaultRedis {
  readonly port: number;
  readonly dir: string;
  readonly #args: string[];
  #handle: RedisServerHandle | undefined;
  #admins: Redis[] = [];
  /** How many times the server was (re)started. */
  starts = 0;

  private constructor(port: number, dir: string, args: string[]) {
    this.port = port;
    this.dir = dir;
    this.#args = args;
  }

  static async start(options: FaultRedisOptions = {}): Promise<FaultRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'kelp-faults-redis-'));
    const args = ['--dir', dir, ...(options.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : []), ...(options.extraArgs ?? [])];
    const server = new FaultRedis(await freePort(), dir, args);
    await server.up();
    return server;
  }

  get running(): boolean {
    return this.#handle !== undefined;
  }

  url(db = 0, auth = ''): string {
    return `redis://${auth}127.0.0.1:${this.port}/${db}`;
  }

  /** A client for inspecting and injecting (not the code under test); closed by stop(). */
  admin(db = 0, options: { username?: string; password?: string } = {}): Redis {
    const client = new Redis({ host: '127.0.0.1', port: this.port, db, maxRetriesPerRequest: 2, ...options });
    client.on('error', () => undefined);
    this.#admins.push(client);
    return client;
  }

  async up(): Promise<void> {
    if (this.#handle) return;
    this.#handle = await startRedisServer({ port: this.port, extraArgs: this.#args, startTimeoutMs: 15_000 });
    this.starts += 1;
  }

  /** SIGKILL: no shutdown save; with `aof` every write it acknowledged is still on disk. */
  async kill(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (!handle) return;
    await handle.kill('SIGKILL');
    // The harness made an (unused) directory of its own; ours is passed with a later --dir.
    rmSync(handle.dir, { recursive: true, force: true });
  }

  /** Kills the server, waits `downMs`, starts it again on the same port and directory. */
  async restart(downMs: number): Promise<{ downAt: number; upAt: number }> {
    await this.kill();
    const downAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.up();
    return { downAt, upAt: Date.now() };
  }

  async stop(): Promise<void> {
    for (const client of this.#admins) client.disconnect();
    this.#admins = [];
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
