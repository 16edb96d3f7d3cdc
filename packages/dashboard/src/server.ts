/**
 * `startDashboard`: connects to the broker, starts the sampler and serves the page and its API.
 * The returned object says where it listens and the per-run token, and closes everything.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Connection, OperationalError } from 'kelp';
import { createApp } from './app.js';
import { loadAssets } from './assets.js';
import { type DashboardOptions, isLoopback, resolveOptions } from './options.js';
import { HostPin } from './safety.js';
import { Sampler } from './sampler.js';
import { scrubberFor } from './secrets.js';

export interface Dashboard {
  /** `http://host:port/` where the page is served. */
  readonly url: string;
  /** The per-run token actions must carry (`X-Kelp-Token`); the page takes it from `#token=`. */
  readonly token: string;
  /** The page URL with the token in its fragment (never sent to a server, never logged by one). */
  readonly pageUrl: string;
  /** The broker URL with its password replaced by `**`. */
  readonly broker: string;
  readonly readOnly: boolean;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function startDashboard(options: DashboardOptions, signal?: AbortSignal): Promise<Dashboard> {
  const resolved = resolveOptions(options);
  const scrubber = scrubberFor(resolved.url);
  const connection = new Connection(resolved.url);
  let sampler: Sampler | undefined;
  try {
    await connection.connect(signal === undefined ? {} : { signal });
    const admin = connection.transport.admin;
    if (!admin) throw new OperationalError(`the ${connection.transport.driverName} transport has no admin tools: the dashboard cannot read it`);
    sampler = new Sampler(admin, resolved.sampleInterval, resolved.historySize, scrubber.scrub);
    const token = resolved.token ?? randomBytes(24).toString('base64url');
    const shownHost = hostForUrl(resolved.host);
    const pin = new HostPin(shownHost, isLoopback(resolved.host), resolved.port);
    const app = createApp({
      admin,
      scrubber,
      sampler,
      assets: loadAssets(),
      readOnly: resolved.readOnly,
      token,
      password: resolved.password,
      transportName: connection.transport.driverName,
      searchLimit: resolved.searchLimit,
      allowedHosts: () => pin.allowed(),
    });
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const started = serve({ fetch: app.fetch, hostname: resolved.host, port: resolved.port }, () => resolve(started));
      started.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    pin.listening(port);
    sampler.start();
    const url = `http://${shownHost}:${port}/`;
    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Open keep-alive and streaming connections would hold close() forever.
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await sampler?.stop();
        await connection.close();
      })());
    return {
      url,
      token,
      pageUrl: `${url}#token=${token}`,
      broker: scrubber.shownUrl,
      readOnly: resolved.readOnly,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await sampler?.stop();
    await connection.close().catch(() => undefined);
    if (error instanceof Error) error.message = scrubber.scrub(error.message);
    throw error;
  }
}
