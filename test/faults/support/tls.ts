/**
 * Throw-away TLS material for a loopback redis-server, made with Debian's `openssl` in the test
 * itself (never checked in): a CA, and a server certificate for 127.0.0.1/localhost signed by it.
 * Without openssl this throws with the command that installs it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand } from '../../setup/prerequisites.js';

export interface TestCertificates {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
  remove(): void;
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'kelp-faults-tls-'));
  const at = (name: string) => join(dir, name);
  const openssl = requireCommand('openssl', ['version'], 'openssl');
  const run = (args: string[]) => execFileSync(openssl, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  // EC keys: fast to generate, and redis-server (OpenSSL 3) accepts them.
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '2', '-subj', '/CN=kelp fault-test CA']);
  run(['req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial',
    '-out', at('server.crt'), '-days', '2', '-extfile', at('ext.cnf')]);
  return {
    dir,
    caFile: at('ca.crt'),
    certFile: at('server.crt'),
    keyFile: at('server.key'),
    caPem: readFileSync(at('ca.crt'), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** redis-server arguments for TLS on `tlsPort` (the plain port stays for the harness's PING). */
export function tlsServerArgs(certs: TestCertificates, tlsPort: number): string[] {
  return ['--tls-port', String(tlsPort), '--tls-cert-file', certs.certFile, '--tls-key-file', certs.keyFile,
    '--tls-ca-cert-file', certs.caFile, '--tls-auth-clients', 'no'];
}
