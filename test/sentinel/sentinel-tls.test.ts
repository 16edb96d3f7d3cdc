/**
 * sentinel:// with TLS everywhere (celery#8016): the sentinels are reached over TLS as
 * `sentinel_kwargs` says (Kombu's `ssl` keys), and the master through the URL's `ssl_*` keys,
 * certificates verified against the test CA.
 */
import { Connection, OperationalError, SimpleQueue } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../faults/support/tls.js';
import { MASTER_NAME, SENTINEL_PASSWORD, startSentinelTopology, type SentinelTopology } from '../setup/sentinel-topology.js';

let certs: TestCertificates;
let topology: SentinelTopology;
beforeAll(async () => {
  certs = makeTestCertificates();
  topology = await startSentinelTopology({ tls: certs });
}, 60_000);
afterAll(async () => {
  await topology?.stop();
  certs?.remove();
});

describe('sentinel:// over TLS', () => {
  it('reaches the sentinels and the master over verified TLS, and follows a failover', { timeout: 60_000 }, async () => {
    const [first, ...others] = topology.url(2).split(';');
    const url = [`${first}?ssl_cert_reqs=required&ssl_ca_certs=${encodeURIComponent(certs.caFile)}`, ...others].join(';');
    await using connection = new Connection(url, {
      transportOptions: { master_name: MASTER_NAME, sentinel_kwargs: { password: SENTINEL_PASSWORD, ssl: true, ssl_ca_certs: certs.caFile } },
    });
    const queue = new SimpleQueue(connection, 'tls-q');
    await queue.put({ id: 'before' });
    const before = await queue.get({ timeout: 5 });
    await before.ack();
    // The sentinels name TLS ports: the command connection came in on the master's TLS port.
    const master = await topology.masterPort();
    expect((await topology.kelpClients(master)).some((line) => line.includes(`laddr=127.0.0.1:${master} `))).toBe(true);

    const { to } = await topology.failover();
    await queue.put({ id: 'after' }, { retry: true, retryPolicy: { maxRetries: 20, intervalStart: 0.1, intervalStep: 0.1, intervalMax: 0.5 } });
    const after = await queue.get({ timeout: 10 });
    await after.ack();
    expect([before.decode(), after.decode()]).toEqual([{ id: 'before' }, { id: 'after' }]);
    expect((await topology.kelpClients(to)).some((line) => line.includes(`laddr=127.0.0.1:${to} `))).toBe(true);
  });

  it('refuses sentinels whose certificate it cannot verify (no CA given)', async () => {
    await using connection = new Connection(topology.url(2), {
      transportOptions: { master_name: MASTER_NAME, sentinel_kwargs: { password: SENTINEL_PASSWORD, ssl: true } },
    });
    await expect(connection.ensureConnection({ maxRetries: 0 })).rejects.toThrow(OperationalError);
  });
});
