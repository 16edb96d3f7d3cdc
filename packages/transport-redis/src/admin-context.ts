/** What the Redis admin hooks are given by the transport. */
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';
import type { RedisTransportOptions } from './options.js';

export interface RedisAdminContext {
  /** Connects the transport if needed and returns its command connection. */
  client(): Promise<Redis>;
  readonly keys: RedisKeys;
  readonly options: RedisTransportOptions;
  /** Wall clock in seconds. */
  readonly wallClock: () => number;
  /** The broker URL without its password, for error messages. */
  readonly redactedUrl: string;
}
