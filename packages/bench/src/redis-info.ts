/**
 * Reads Redis `INFO commandstats` and `INFO stats` around a workload. The connection is made the
 * way kelp's Redis transport makes its own: kelp's URL parser, then the transport's mapping to
 * ioredis options, so credentials, databases, sockets and TLS verification mean the same here as
 * in the workload being measured. This is measurement, not messaging: it never touches a key.
 */
import { parseRedisTransportOptions, toIoredisOptions } from '@kelp/transport-redis';
import { Redis } from 'ioredis';
import { parseUrl } from 'kelp';

/** Counters that the benchmarks diff around a workload. */
export interface RedisCounters {
  /** Calls per command name (lower case), from `INFO commandstats`. Includes calls made by scripts. */
  calls: Record<string, number>;
  /** Client reads the server processed: close to the number of round trips (a pipeline is one read). */
  reads: number;
  /** Commands the server processed in total. */
  commands: number;
}

const REDIS_TRANSPORTS = new Set(['redis', 'rediss']);

/** An ioredis client for `url` (lazy, no retries), or undefined when `url` is not a Redis URL. */
export function redisClientFor(url: string, connectionName = 'kelp-bench'): Redis | undefined {
  const params = parseUrl(url);
  if (!REDIS_TRANSPORTS.has(params.transport)) return undefined;
  const options = toIoredisOptions(params, parseRedisTransportOptions(params.transportOptions));
  return new Redis({ ...options, connectionName, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
}

/** Turns the text of `INFO commandstats` + `INFO stats` into counters. */
export function parseInfo(text: string): RedisCounters {
  const calls: Record<string, number> = {};
  let reads = 0;
  let commands = 0;
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
  }
  return { calls, reads, commands };
}

/** `after - before`, per command, dropping commands whose count did not change. */
export function diffCounters(before: RedisCounters, after: RedisCounters): RedisCounters {
  const calls: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.calls)) {
    const delta = value - (before.calls[name] ?? 0);
    if (delta > 0) calls[name] = delta;
  }
  return { calls, reads: after.reads - before.reads, commands: after.commands - before.commands };
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

  /** `redis_version` from INFO server, for result headers. */
  async version(): Promise<string> {
    return /redis_version:([^\r\n]+)/.exec(await this.client.info('server'))?.[1] ?? 'unknown';
  }

  close(): void {
    this.client.disconnect();
  }
}
