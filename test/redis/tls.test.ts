/**
 * rediss:// against a TLS-only redis-server with a throw-away CA: verified certificates work,
 * an unknown CA is refused with an OperationalError, for its certificate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationalError, parseUrl, type Delivery } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport, type RedisChannel } from '@kelp/transport-redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireCommand } from '../setup/prerequisites.js';
import { freePort, startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { bodyOf, message, spinUntil } from './helpers.js';

let dir: string;
let server: RedisServerHandle;
let tlsPort: number;

function openssl(...args: string[]): void {
  execFileSync(requireCommand('openssl', ['version'], 'openssl'), args, { cwd: dir, stdio: 'ignore' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kelp-tls-'));
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=kelp-test-ca');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  execFileSync('sh', ['-c', "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > ext.cnf"], { cwd: dir });
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'ext.cnf');
  tlsPort = await freePort();
  server = await startRedisServer({
    extraArgs: ['--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'no'],
  });
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('rediss://', () => {
  it('publishes and consumes over TLS with the CA given as ssl_ca_certs', async () => {
    const transport = new RedisTransport(parseUrl(`rediss://127.0.0.1:${tlsPort}/0?ssl_ca_certs=${encodeURIComponent(join(dir, 'ca.crt'))}`));
    await transport.connect();
    const hub = new Hub();
    transport.registerWithEventLoop(hub);
    const channel = (await transport.createChannel()) as RedisChannel;
    await channel.basicPublish(message({ secure: true }), '', 'tlsq');
    const got: Delivery[] = [];
    await channel.basicConsume('tlsq', { noAck: true, onDelivery: (d) => got.push(d) });
    await spinUntil(hub, () => got.length > 0);
    await transport.close();
    hub.close();
    expect(got.map(bodyOf)).toEqual([{ secure: true }]);
  });

  it('refuses a server whose certificate the default CAs do not trust', async () => {
    const transport = new RedisTransport(parseUrl(`rediss://127.0.0.1:${tlsPort}/0`, { transportOptions: { socketConnectTimeout: 3 } }));
    const error = await transport.connect().catch((e: unknown) => e);
    await transport.close();
    expect(error).toBeInstanceOf(OperationalError);
    // Refused for its certificate (the test CA is in the chain and trusted by nobody), not for
    // any other reason a connect can fail.
    expect((transport.lastRedisError as NodeJS.ErrnoException | undefined)?.code).toBe('SELF_SIGNED_CERT_IN_CHAIN');
    // And the error the caller gets says so, with the refusal as its cause.
    expect((error as Error).message).toMatch(/Cannot connect to redis at rediss:\/\/127\.0\.0\.1:\d+\/0: .*certificate/);
    expect(((error as Error).cause as NodeJS.ErrnoException | undefined)?.code).toBe('SELF_SIGNED_CERT_IN_CHAIN');
  });
});
