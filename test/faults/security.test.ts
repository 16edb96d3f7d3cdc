/**
 * Security (issue 4, item 6): an ACL user with a password, TLS (rediss://) against a redis-server
 * with TLS on loopback and certificates made in the test, no password in any error, event, log
 * line or CLI output, and only accepted serializers ever decoded (there is no pickle at all).
 */
import { spawn } from 'node:child_process';
import { Connection, ContentError, OperationalError, Queue, type Message } from 'kelp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../setup/redis-server.js';
import { bundle, cliEntry, type Bundle } from './support/bundle.js';
import { consumeInProcess } from './support/in-process.js';
import { publishIds } from './support/producer.js';
import { envelopeObject } from './support/malformed-corpus.js';
import { kombuEnvelope, sleep, waitFor } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';
import { reportScenario } from './support/report.js';
import { makeTestCertificates, tlsServerArgs, type TestCertificates } from './support/tls.js';

const USER = 'kelp-app';
const PASSWORD = 'Zq8-S3cret-Kelp-77';
const WRONG = 'Wr0ng-Pa55-Kelp-99';

let certs: TestCertificates;
let redis: FaultRedis;
let admin: Redis;
let tlsPort: number;
let cli: Bundle;

/** Everything the process writes while `fn` runs: stdout, stderr and console.*. */
async function captureOutput<T>(fn: () => Promise<T>): Promise<{ result: T; text: string }> {
  let text = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab = (chunk: unknown) => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
    return true;
  };
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  const saved = { log: console.log, warn: console.warn, error: console.error, info: console.info, debug: console.debug };
  for (const name of Object.keys(saved) as (keyof typeof saved)[]) console[name] = (...args: unknown[]) => grab(`${args.map(String).join(' ')}\n`);
  try {
    return { result: await fn(), text };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    Object.assign(console, saved);
  }
}

/** The message, stack and cause chain of an error, and its enumerable fields, as one text. */
function errorText(error: unknown, depth = 0): string {
  if (!(error instanceof Error) || depth > 5) return String(error);
  let fields = '';
  try {
    fields = JSON.stringify(error);
  } catch {
    fields = '';
  }
  return `${error.name} ${error.message} ${error.stack ?? ''} ${fields} ${errorText((error as { cause?: unknown }).cause, depth + 1)}`;
}

beforeAll(async () => {
  certs = makeTestCertificates();
  tlsPort = await freePort();
  [redis, cli] = await Promise.all([FaultRedis.start({ extraArgs: tlsServerArgs(certs, tlsPort) }), bundle(cliEntry, 'kelp-cli')]);
  admin = redis.admin();
  await admin.call('ACL', 'SETUSER', USER, 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
});

afterAll(async () => {
  await redis?.stop();
  certs?.remove();
  cli?.remove();
});

const tlsUrl = (password: string) => `rediss://${USER}:${password}@127.0.0.1:${tlsPort}/0`;

describe('ACL user over TLS', () => {
  it('publishes and consumes over rediss:// as the ACL user, verifying the server against the test CA', async () => {
    const queue = 'tls-q';
    const connection = new Connection(tlsUrl(PASSWORD), { tls: { ca: certs.caFile } });
    const got: string[] = [];
    try {
      const tally = await publishIds(connection, queue, ['t1', 't2', 't3']);
      const running = await consumeInProcess(connection, new Queue(queue), {
        callbacks: [
          async (body: unknown, message: Message) => {
            got.push(String((body as { id: string }).id));
            await message.ack();
          },
        ],
      });
      await waitFor(() => got.length === 3, 10_000);
      const clients = String(await admin.client('LIST'));
      await running.stop();
      reportScenario('tls-acl', { published: tally.ok.length, acked: got.length, redelivered: 0, deadLettered: 0, lost: 3 - got.length });
      expect(got.sort()).toEqual(['t1', 't2', 't3']);
      expect(clients).toContain(`user=${USER}`);
      expect(String(connection)).not.toContain(PASSWORD);
      expect(connection.redactedUrl).not.toContain(PASSWORD);
    } finally {
      await connection.close();
    }
  });

  it('refuses a wrong password with an OperationalError that names neither password', async () => {
    const connection = new Connection(tlsUrl(WRONG), { tls: { ca: certs.caFile } });
    const { result: error, text } = await captureOutput(() => connection.connect().then(() => undefined, (e: unknown) => e));
    await connection.close();
    expect(error).toBeInstanceOf(OperationalError);
    const all = `${errorText(error)} ${text} ${String(connection)}`;
    expect(all).not.toContain(WRONG);
    expect(all).not.toContain(PASSWORD);
  });

  it('refuses a server whose certificate it cannot verify, without showing the password', async () => {
    const connection = new Connection(tlsUrl(PASSWORD));
    // The transport the attempt uses (a failed attempt drops it from the connection).
    const transport = connection.transport as unknown as { lastRedisError?: NodeJS.ErrnoException };
    const { result: error, text } = await captureOutput(() => connection.connect().then(() => undefined, (e: unknown) => e));
    // Refused for the certificate (the test CA is trusted by nobody), not for any other reason.
    const cause = transport.lastRedisError;
    await connection.close();
    expect(error).toBeInstanceOf(OperationalError);
    expect(cause?.code).toBe('SELF_SIGNED_CERT_IN_CHAIN');
    expect(`${errorText(error)} ${errorText(cause)} ${text}`).not.toContain(PASSWORD);
  });

  it('shows no password in events, errors or output while the link is lost and re-authentication fails', { timeout: 30_000 }, async () => {
    const queue = 'tls-events-q';
    const connection = new Connection(tlsUrl(PASSWORD), { tls: { ca: certs.caFile } });
    const seen: string[] = [];
    connection.on('connectionLost', (e) => seen.push(`connectionLost ${errorText(e)}`));
    connection.on('reconnected', () => seen.push('reconnected'));
    connection.on('error', (e) => seen.push(`error ${errorText(e)}`));
    connection.transport.on('error', (e) => seen.push(`transport error ${errorText(e)}`));
    const got: string[] = [];
    const { text } = await captureOutput(async () => {
      const running = await consumeInProcess(connection, new Queue(queue), {
        onMessage: async (message: Message) => {
          got.push(String((message.decode() as { id: string }).id));
          await message.ack();
        },
        onError: (e) => seen.push(`consumer ${errorText(e)}`),
      });
      await admin.lpush(queue, kombuEnvelope({ id: 'before' }, queue).json);
      await waitFor(() => got.includes('before'), 5_000);
      // Change the password and cut the user's connections: every reconnect now fails with WRONGPASS.
      await admin.call('ACL', 'SETUSER', USER, 'resetpass', '>a-temporary-password-0');
      await admin.client('KILL', 'USER', USER);
      await sleep(2_500);
      await admin.call('ACL', 'SETUSER', USER, 'resetpass', `>${PASSWORD}`);
      await admin.lpush(queue, kombuEnvelope({ id: 'after' }, queue).json);
      await waitFor(() => got.includes('after'), 15_000);
      await running.stop();
    });
    await connection.close();
    reportScenario('secret-redaction', { published: 2, acked: got.length, redelivered: 0, deadLettered: 0, lost: 2 - got.length, extra: { events: seen.length } });
    const leaks = [...seen, ...text.split('\n')].filter((s) => s.includes(PASSWORD)).map((s) => {
      const at = s.indexOf(PASSWORD);
      return s.slice(Math.max(0, at - 200), at + 40);
    });
    expect(seen.some((s) => s.startsWith('connectionLost'))).toBe(true);
    expect(leaks).toEqual([]);
    expect(got).toEqual(['before', 'after']);
  });

  it('prints no password from `kelp consume` when authentication fails', { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, [cli.file, 'consume', `redis://${USER}:${WRONG}@127.0.0.1:${redis.port}/0`, '--queue', 'cli-q', '--timeout', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toMatch(/\S/);
    expect(output).not.toContain(WRONG);
  });
});

describe('serializers', () => {
  it('decodes only what the consumer accepts and never unpickles', async () => {
    const queue = 'accept-q';
    const pickle = envelopeObject(queue, {});
    pickle['content-type'] = 'application/x-python-serialize';
    pickle['content-encoding'] = 'binary';
    // pickle protocol 2 of os.system('touch /tmp/pwned') would look like this; {} is enough to prove it is never loaded.
    pickle['body'] = Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e]).toString('base64');
    const msgpack = envelopeObject(queue, {});
    msgpack['content-type'] = 'application/x-msgpack';
    msgpack['content-encoding'] = 'binary';
    msgpack['body'] = Buffer.from([0x81, 0xa2, 0x69, 0x64, 0xa2, 0x6d, 0x70]).toString('base64'); // {"id":"mp"}
    const textMessage = envelopeObject(queue, {});
    textMessage['content-type'] = 'text/plain';
    textMessage['body'] = Buffer.from('plain text').toString('base64');
    await admin.lpush(queue, kombuEnvelope({ id: 'json-1' }, queue).json, JSON.stringify(pickle), JSON.stringify(msgpack), JSON.stringify(textMessage), kombuEnvelope({ id: 'json-2' }, queue).json);

    const connection = new Connection(`redis://${USER}:${PASSWORD}@127.0.0.1:${redis.port}/0`);
    const decoded: unknown[] = [];
    const refused: Array<{ contentType: string | null; error: unknown }> = [];
    const running = await consumeInProcess(connection, new Queue(queue), {
      accept: ['json'],
      callbacks: [
        async (body: unknown, message: Message) => {
          decoded.push(body);
          await message.ack();
        },
      ],
      onDecodeError: async (message: Message, error: unknown) => {
        refused.push({ contentType: message.contentType, error });
        await message.reject({ requeue: false });
      },
    });
    try {
      await waitFor(() => decoded.length + refused.length >= 5, 10_000);
      // Without any accept list, pickle is still refused: kelp has no pickle serializer at all.
      const anyAccept: unknown[] = [];
      await admin.lpush(`${queue}-open`, JSON.stringify({ ...pickle, properties: { ...pickle['properties'], delivery_tag: 'p-open' } }));
      const second = new Connection(`redis://${USER}:${PASSWORD}@127.0.0.1:${redis.port}/0`);
      const open = await consumeInProcess(second, new Queue(`${queue}-open`), {
        callbacks: [(body: unknown) => void anyAccept.push(body)],
        onDecodeError: async (message: Message, error: unknown) => {
          refused.push({ contentType: message.contentType, error });
          await message.reject({ requeue: false });
        },
      });
      await waitFor(() => refused.length >= 4, 10_000);
      await open.stop();
      await second.close();
      expect(decoded).toEqual([{ id: 'json-1' }, { id: 'json-2' }]);
      expect(refused.map((r) => r.contentType).sort()).toEqual(
        ['application/x-msgpack', 'application/x-python-serialize', 'application/x-python-serialize', 'text/plain'].sort(),
      );
      expect(refused.every((r) => r.error instanceof ContentError)).toBe(true);
      expect(anyAccept).toEqual([]);
    } finally {
      await running.stop();
      await connection.close();
    }
  });
});
