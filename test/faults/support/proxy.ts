/**
 * A loopback TCP proxy that injects network faults between kelp and redis-server:
 * - `pause()`: half-open. Every socket stays open but bytes are swallowed in both directions, and
 *   new connections are accepted and swallowed too (a partition: nothing gets through, nothing
 *   is closed). This is the fault a client only notices with a watchdog or a health check.
 * - `resume()`: new connections are forwarded again. Connections that lived through a pause stay
 *   swallowed for good: bytes were lost mid-stream, so their RESP framing can never be trusted.
 * - `dropAll()`: resets every socket at once (what a firewall reset or a NAT timeout does).
 * - `refuse()`: what a TCP proxy or load balancer in front of a dead server does: it accepts each
 *   new connection, then closes it before any reply (`forward()` ends this).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  swallow: boolean;
}

export class FaultProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  #paused = false;
  #refusing = false;
  /** Connections accepted over the proxy's lifetime. */
  accepted = 0;
  /** When each connection was accepted (ms since epoch): shows reconnect backoff. */
  readonly acceptedAt: number[] = [];

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  static async start(target: { host?: string; port: number }): Promise<FaultProxy> {
    const server = createServer();
    const proxy = new FaultProxy(server, { host: target.host ?? '127.0.0.1', port: target.port });
    server.on('connection', (client) => proxy.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Open client connections (forwarding or swallowed). */
  get openConnections(): number {
    return this.#pairs.size;
  }

  url(db = 0, auth = ''): string {
    return `redis://${auth}127.0.0.1:${this.port}/${db}`;
  }

  pause(): void {
    this.#paused = true;
    for (const pair of this.#pairs) pair.swallow = true;
  }

  resume(): void {
    this.#paused = false;
  }

  refuse(): void {
    this.#refusing = true;
  }

  forward(): void {
    this.#refusing = false;
  }

  /** Resets every socket (client and upstream side). */
  dropAll(): void {
    for (const pair of [...this.#pairs]) this.#destroy(pair, true);
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.accepted += 1;
    this.acceptedAt.push(Date.now());
    if (this.#refusing) {
      client.on('error', () => undefined);
      client.destroy();
      return;
    }
    const upstream = createConnection(this.#target);
    const pair: Pair = { client, upstream, swallow: this.#paused };
    this.#pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk) => {
      if (!pair.swallow && upstream.writable) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!pair.swallow && client.writable) client.write(chunk);
    });
    // A swallowed pair keeps its client side open even when the server closes: a half-open link
    // gives the client no FIN either.
    const onUpstreamEnd = (): void => {
      if (!pair.swallow) this.#destroy(pair, false);
    };
    upstream.on('end', onUpstreamEnd);
    upstream.on('close', onUpstreamEnd);
    upstream.on('error', () => onUpstreamEnd());
    client.on('error', () => this.#destroy(pair, false));
    client.on('close', () => this.#destroy(pair, false));
  }

  #destroy(pair: Pair, reset: boolean): void {
    if (!this.#pairs.delete(pair)) return;
    for (const socket of [pair.client, pair.upstream]) {
      try {
        if (reset && !socket.destroyed && !socket.connecting) socket.resetAndDestroy();
        else socket.destroy();
      } catch {
        socket.destroy();
      }
    }
  }
}
