/**
 * Hands each test file its own Redis db number, so files running in parallel never see each
 * other's keys and nothing needs FLUSHDB. The counter lives in db 0 of the shared server
 * (INCR is atomic across vitest workers); db 0 itself is never handed out.
 */
import { Socket } from 'node:net';
import { inject } from 'vitest';

const COUNTER_KEY = 'kelp:test:next-db';
const DATABASES = 1024;

/** Sends one RESP command on a fresh socket and returns the raw first reply line. */
function rawCommand(port: number, host: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error('redis did not reply in 5 s'));
    });
    socket.once('error', reject);
    socket.connect(port, host, () => {
      socket.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.slice(0, reply.indexOf('\r\n')));
      }
    });
  });
}

export interface FreshDb {
  /** The db number reserved for the caller. */
  db: number;
  /** `redis://127.0.0.1:<port>/<db>`. */
  url: string;
  /** The server URL without a db. */
  serverUrl: string;
  host: string;
  port: number;
}

export async function freshDb(serverUrl: string = inject('redisUrl')): Promise<FreshDb> {
  const parsed = new URL(serverUrl);
  const port = Number(parsed.port || 6379);
  const host = parsed.hostname;
  const line = await rawCommand(port, host, ['INCR', COUNTER_KEY]);
  if (!line.startsWith(':')) throw new Error(`INCR ${COUNTER_KEY} failed: ${line}`);
  const n = Number(line.slice(1));
  // Wrap around rather than fail when a long session hands out more than 1023 dbs.
  const db = ((n - 1) % (DATABASES - 1)) + 1;
  return { db, url: `redis://${host}:${port}/${db}`, serverUrl, host, port };
}
