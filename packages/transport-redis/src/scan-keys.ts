/** Key discovery with SCAN: the admin and the sharded restore sweep find what exists by name. */
import { throwIfAborted } from '@kelp/core';
import type { Redis } from 'ioredis';

const SCAN_COUNT = 1000;

/** Escapes Redis glob metacharacters so a prefix or name matches literally. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Every key of one node matching `pattern` (of `type` when given), each once. */
export async function scanKeys(client: Redis, pattern: string, signal?: AbortSignal, type?: 'list' | 'zset'): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    throwIfAborted(signal);
    const [next, keys] =
      type === undefined
        ? await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
        : await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT, 'TYPE', type);
    for (const key of keys) found.add(key);
    cursor = next;
  } while (cursor !== '0');
  return [...found];
}
