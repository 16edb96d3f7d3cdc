/**
 * rediss+cluster:// on a cluster that speaks TLS everywhere (client ports, cluster bus,
 * replication): the seeds are asked over TLS, the master is dialled over TLS, and certificates
 * are verified against the test CA.
 */
import { Connection, SimpleQueue } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../faults/support/tls.js';
import { startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';

const PREFIX = '{tls}:';

let certs: TestCertificates;
let topology: ClusterTopology;
beforeAll(async () => {
  certs = makeTestCertificates();
  topology = await startClusterTopology({ tls: certs });
}, 60_000);
afterAll(async () => {
  await topology?.stop();
  certs?.remove();
});

describe('rediss+cluster:// over verified TLS', () => {
  it('publishes and consumes on the slot master, reached on its TLS port', async () => {
    const [first, ...others] = topology.url().split(';');
    const url = [`${first}?ssl_ca_certs=${encodeURIComponent(certs.caFile)}`, ...others].join(';');
    await using connection = new Connection(url, { transportOptions: { globalKeyprefix: PREFIX } });
    const queue = new SimpleQueue(connection, 'tls-q');
    await queue.put({ id: 'over-tls' });
    const message = await queue.get({ timeout: 5 });
    expect(message.decode()).toEqual({ id: 'over-tls' });
    await message.ack();
    const { master } = await topology.ownerOf(await topology.slotOf(`${PREFIX}x`));
    const client = topology.nodeClient(master);
    try {
      const lines = String(await client.client('LIST')).split('\n').filter((line) => / name=kelp-(command|poll|subscriber) /.test(line));
      expect(lines.length).toBe(3);
      expect(lines.every((line) => line.includes(`laddr=127.0.0.1:${master} `))).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('refuses a node whose certificate the CA does not vouch for', async () => {
    // Without ssl_ca_certs the test CA is unknown: the lookups fail certificate verification.
    const connection = new Connection(topology.url(), { transportOptions: { globalKeyprefix: PREFIX, max_retries: 0 } });
    const error = await connection.connect().then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    await connection.close();
    expect(`${error?.message} ${String((error?.cause as Error | undefined)?.message)}`).toMatch(/self[- ]signed|unable to verify|certificate/i);
  });
});
