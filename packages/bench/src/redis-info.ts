/**
 * Reads Redis `INFO commandstats`, `INFO stats` and `INFO cpu` around a workload, over ioredis. The URL is
 * read by kelp's own parser, so credentials, databases, sockets and TLS mean the same here as in
 * the workload being measured: a `rediss://` server's certificate is verified unless the URL
 * says `ssl_cert_reqs=none`. This is measurement, not messaging: it never touches a key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { parseUrl, type ConnectionParams } from 'kelp';

/** Counters that the benchmarks diff around a workload. */
export interface RedisCounters {
  /** Calls per command name (lower case), from `INFO commandstats`. Includes calls made by scripts. */
  calls: Record<string, number>;
  /** Client reads the server processed: close to the number of round trips (a pipeline is one read). */
  reads: number;
  /** Commands the server processed in total. */
  commands: number;
  /** CPU time the server used (INFO cpu: used_cpu_user + used_cpu_sys), in microseconds. */
  cpuUs: number;
}

const REDIS_TRANSPORTS = new Set(['redis', 'rediss']);

/** PEM text as given, or read from the file it names. */
function pem(value: string | undefined): string | undefined {
  return value === undefined || value.includes('-----BEGIN') || !existsSync(value) ? value : readFileSync(value, 'utf8');
}

/** ioredis options for what kelp's URL parser made of a Redis URL. */
export function ioredisOptionsOf(params: ConnectionParams): RedisOptions {
  const options: RedisOptions = { db: Number(params.virtualHost || 0) };
  if (params.username) options.username = params.username;
  if (params.password) options.password = params.password;
  if (params.socketPath) return { ...options, path: params.socketPath };
  options.host = params.hostname || '127.0.0.1';
  options.port = params.port ?? 6379;
  if (params.tls) {
    const { ca, cert, key, servername, rejectUnauthorized = true } = params.tls;
    options.tls = { rejectUnauthorized };
    const files = { ca: pem(ca), cert: pem(cert), key: pem(key) };
    for (const [name, text] of Object.entries(files)) if (text !== undefined) options.tls[name as keyof typeof files] = text;
    if (servername !== undefined) options.tls.servername = servername;
  }
  return options;
}

/** An ioredis client for `url` (lazy, no retries), or undefined when `url` is not a Redis URL. */
export function redisClientFor(url: string, connectionName = 'kelp-bench'): Redis | undefined {
  const params = parseUrl(url);
  if (!REDIS_TRANSPORTS.has(params.transport)) return undefined;
  return new Redis({ ...ioredisOptionsOf(params), connectionName, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
}

/** Turns the text of `INFO commandstats` + `INFO stats` into counters. */
export function parseInfo(text: string): RedisCounters {
  const calls: Record<string, number> = {};
  let reads = 0;
  let commands = 0;
  let cpuUs = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const stat = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (stat) {
      calls[(stat[1] as string).toLowerCase()] = Number(stat[2]);
      continue;
    }
    const reads_ = /^total_reads_processed:(\d+)/.exec(line);
    if (reads_) reads = Number(reads_[1]);
    const cmds = /^total_commands_processed:(\d+)/.exec(line);
    if (cmds) commands = Number(cmds[1]);
    // used_cpu_sys/_user (seconds, 6 decimals); not the _children or _main_thread variants.
    const cpu = /^used_cpu_(?:sys|user):([\d.]+)$/.exec(line);
    if (cpu) cpuUs += Math.round(Number(cpu[1]) * 1e6);
  }
  return { calls, reads, commands, cpuUs };
}

/** `after - before`, per command, dropping commands whose count did not change. */
export function diffCounters(before: RedisCounters, after: RedisCounters): RedisCounters {
  const calls: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.calls)) {
    const delta = value - (before.calls[name] ?? 0);
    if (delta > 0) calls[name] = delta;
  }
  return { calls, reads: after.reads - before.reads, commands: after.commands - before.commands, cpuUs: after.cpuUs - before.cpuUs };
}

/**
 * The server's name and version from the text of `INFO server`. Valkey also reports the Redis
 * version it is compatible with as `redis_version`; its own is `valkey_version`.
 */
export function serverOf(text: string): string {
  const field = (name: string): string | undefined => new RegExp(`^${name}:([^\\r\\n]+)`, 'm').exec(text)?.[1];
  const valkey = field('valkey_version');
  if (valkey !== undefined) return `Valkey ${valkey}`;
  return `Redis ${field('redis_version') ?? 'unknown'}`;
}

/** A reusable INFO reader for one Redis URL; `read()` costs one round trip. */
export class RedisInfoProbe {
  private constructor(private readonly client: Redis) {}

  /** Connects (and authenticates); undefined when `url` is not a Redis URL (e.g. memory://). */
  static async open(url: string): Promise<RedisInfoProbe | undefined> {
    const client = redisClientFor(url, 'kelp-bench-info');
    if (!client) return undefined;
    // Reported through connect()'s rejection; without a listener ioredis prints it.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw error;
    }
    return new RedisInfoProbe(client);
  }

  async read(): Promise<RedisCounters> {
    return parseInfo(await this.client.info('all'));
  }

  /** The server's name and version (`Redis 7.0.15`, `Valkey 8.0.1`), for result headers. */
  async server(): Promise<string> {
    return serverOf(await this.client.info('server'));
  }

  close(): void {
    this.client.disconnect();
  }
}
