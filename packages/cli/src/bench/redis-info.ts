/**
 * Reads Redis `INFO commandstats` and `INFO stats` over a bare RESP socket. The CLI may import
 * only `kelp`, and kelp has no reason to expose raw server commands, so the benchmarks speak the
 * three commands they need (AUTH, INFO, QUIT) themselves. This is measurement, not messaging: it
 * never touches a key.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Counters that the benchmarks diff around a workload. */
export interface RedisCounters {
  /** Calls per command name (lower case), from `INFO commandstats`. Includes calls made by scripts. */
  calls: Record<string, number>;
  /** Client reads the server processed: close to the number of round trips (a pipeline is one read). */
  reads: number;
  /** Commands the server processed in total. */
  commands: number;
}

interface Target {
  host?: string;
  port?: number;
  path?: string;
  tls: boolean;
  username?: string;
  password?: string;
}

/** Where `url` points, for the schemes kelp's Redis transport accepts. Undefined for non-Redis URLs. */
export function redisTarget(url: string): Target | undefined {
  const first = url.split(';')[0]?.trim() ?? '';
  const match = /^(redis|rediss|valkey|valkeys|redis\+socket|valkey\+socket):\/\//.exec(first);
  if (!match) return undefined;
  const scheme = match[1] as string;
  const target: Target = { tls: scheme === 'rediss' || scheme === 'valkeys' };
  if (scheme.endsWith('+socket')) {
    // redis+socket://[:pw@]/path/to.sock[?query]: the path is not a host, so URL() cannot parse it.
    const rest = first.slice(match[0].length).split('?')[0] ?? '';
    const at = rest.indexOf('@');
    const credentials = at >= 0 ? rest.slice(0, at) : '';
    const colon = credentials.indexOf(':');
    if (colon > 0) target.username = decodeURIComponent(credentials.slice(0, colon));
    if (credentials) target.password = decodeURIComponent(colon >= 0 ? credentials.slice(colon + 1) : credentials);
    target.path = decodeURIComponent(at >= 0 ? rest.slice(at + 1) : rest);
    return target;
  }
  const parsed = new URL(first.replace(/^[a-z+]+:/, 'http:'));
  if (parsed.username) target.username = decodeURIComponent(parsed.username);
  if (parsed.password) target.password = decodeURIComponent(parsed.password);
  target.host = parsed.hostname || '127.0.0.1';
  target.port = parsed.port ? Number(parsed.port) : 6379;
  return target;
}

/** Encodes one command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return out;
}

type Reply = string | number | null | Error | Reply[];

/**
 * Parses one RESP2 reply from `buf` at `offset`. Returns the reply and the next offset, or
 * undefined when the buffer does not yet hold a whole reply.
 */
export function parseReply(buf: Buffer, offset = 0): { reply: Reply; next: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[offset] as number);
  const line = buf.toString('utf8', offset + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case '+':
      return { reply: line, next: after };
    case '-':
      return { reply: new Error(line), next: after };
    case ':':
      return { reply: Number(line), next: after };
    case '$': {
      const length = Number(line);
      if (length < 0) return { reply: null, next: after };
      if (buf.length < after + length + 2) return undefined;
      return { reply: buf.toString('utf8', after, after + length), next: after + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: null, next: after };
      const items: Reply[] = [];
      let next = after;
      for (let i = 0; i < count; i += 1) {
        const item = parseReply(buf, next);
        if (!item) return undefined;
        items.push(item.reply);
        next = item.next;
      }
      return { reply: items, next };
    }
    default:
      return { reply: new Error(`unexpected RESP type byte ${JSON.stringify(type)}`), next: after };
  }
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

/** A short-lived connection that runs commands one at a time. */
class RespSocket {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  private failure: Error | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('Redis closed the connection')));
  }

  command(args: readonly string[]): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(encodeCommand(args));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const parsed = parseReply(this.buffer);
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.next);
      this.waiting.shift()?.resolve(parsed.reply);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }
}

function open(target: Target, timeoutMs: number): Promise<RespSocket> {
  return new Promise((resolve, reject) => {
    const onConnect = (): void => {
      socket.setTimeout(0);
      resolve(new RespSocket(socket));
    };
    const socket: Socket = target.path
      ? netConnect({ path: target.path }, onConnect)
      : target.tls
        ? tlsConnect({ host: target.host, port: target.port, rejectUnauthorized: false }, onConnect)
        : netConnect({ host: target.host as string, port: target.port as number }, onConnect);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from Redis within ${timeoutMs} ms`)));
    socket.once('error', reject);
  });
}

/** A reusable INFO reader for one Redis URL; `read()` costs one round trip. */
export class RedisInfoProbe {
  private constructor(private readonly socket: RespSocket) {}

  /** Connects and authenticates; undefined when `url` is not a Redis URL (e.g. memory://). */
  static async open(url: string, timeoutMs = 5000): Promise<RedisInfoProbe | undefined> {
    const target = redisTarget(url);
    if (!target) return undefined;
    const socket = await open(target, timeoutMs);
    if (target.password !== undefined) {
      const auth = target.username ? ['AUTH', target.username, target.password] : ['AUTH', target.password];
      const reply = await socket.command(auth);
      if (reply instanceof Error) {
        socket.close();
        throw reply;
      }
    }
    return new RedisInfoProbe(socket);
  }

  async read(): Promise<RedisCounters> {
    const reply = await this.socket.command(['INFO', 'all']);
    if (typeof reply !== 'string') throw reply instanceof Error ? reply : new Error('INFO did not answer with text');
    return parseInfo(reply);
  }

  /** `redis_version` from INFO server, for result headers. */
  async version(): Promise<string> {
    const reply = await this.socket.command(['INFO', 'server']);
    return typeof reply === 'string' ? (/redis_version:([^\r\n]+)/.exec(reply)?.[1] ?? 'unknown') : 'unknown';
  }

  close(): void {
    this.socket.close();
  }
}
