import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Connection } from '../src/connection.js';
import { ChannelError, OperationalError } from '../src/errors.js';
import { sanitizeError, secretVariants } from '../src/redaction.js';
import { fakeSetup, type FakeTransport } from './helpers/fake-transport.js';

const SECRET = 's3cret';
const secrets = secretVariants([SECRET]);

/** ioredis's ReplyError for a failed AUTH: the password sits in `command.args`, not in the message. */
function authReplyError(): Error {
  const error = new Error('WRONGPASS invalid username-password pair or user is disabled.');
  error.name = 'ReplyError';
  return Object.assign(error, { command: { name: 'auth', args: ['user', SECRET] } });
}

function printed(error: Error): string {
  const texts = [inspect(error, { depth: 10, showHidden: true }), JSON.stringify(error), String(error)];
  for (let cause = error.cause; cause instanceof Error; cause = cause.cause) texts.push(JSON.stringify(cause), String(cause));
  return texts.join('\n');
}

describe('sanitizeError', () => {
  it('returns a clean error itself', () => {
    const clean = new OperationalError('refused', { cause: new Error('ECONNREFUSED') });
    expect(sanitizeError(clean, secrets)).toBe(clean);
  });

  it('scrubs a password found in the cause chain and keeps the class and messages', () => {
    const error = new OperationalError('redis connect failed on redis://user:**@h/0', { cause: authReplyError() });
    const safe = sanitizeError(error, secrets);
    expect([safe instanceof OperationalError, safe.message, (safe.cause as Error).message]).toEqual([
      true,
      'redis connect failed on redis://user:**@h/0',
      'WRONGPASS invalid username-password pair or user is disabled.',
    ]);
    expect(printed(safe)).not.toContain(SECRET);
    expect(((safe.cause as Error & { command: { args: string[] } }).command.args)).toEqual(['user', '**']);
  });

  it('scrubs own enumerable fields, binary arguments and AggregateError members', () => {
    const field = Object.assign(new ChannelError('boom'), { detail: { url: `redis://u:${SECRET}@h` } });
    const binary = Object.assign(new Error('x'), { args: [Buffer.from(`AUTH ${SECRET}`)] });
    const aggregate = new AggregateError([authReplyError()], 'all failed');
    const safe = [field, binary, aggregate].map((e) => sanitizeError(e, secrets));
    expect(safe.map((e) => printed(e).includes(SECRET))).toEqual([false, false, false]);
    expect([safe[0] instanceof ChannelError, (safe[0] as ChannelError).recoverable]).toEqual([true, false]);
  });

  it('survives a cycle in the cause chain', () => {
    const a = new Error(`a ${SECRET}`);
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(sanitizeError(b, secrets).cause).toBeInstanceOf(Error);
    expect(inspect(sanitizeError(b, secrets), { depth: 4 })).not.toContain(SECRET);
  });
});

describe('Connection events and errors hold no password from a driver error', () => {
  it('scrubs error and connectionLost events whose cause keeps the AUTH arguments', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection(`fake://user:${SECRET}@h:1/`, { registry });
    await conn.connect();
    const events: Error[] = [];
    conn.on('error', (e) => events.push(e));
    conn.on('connectionLost', (e) => events.push(e));
    const transport = broker.transports[0] as FakeTransport;
    transport.emit('error', new OperationalError('restore failed', { cause: authReplyError() }));
    transport.emit('connectionLost', new OperationalError('lost', { cause: authReplyError() }));
    expect(events.map((e) => e.message)).toEqual(['restore failed', 'lost']);
    expect(events.map((e) => printed(e).includes(SECRET))).toEqual([false, false]);
    await conn.close();
  });

  it('scrubs the error ensure() throws when the operation failed with a password in its cause', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection(`fake://user:${SECRET}@h:1/`, { registry });
    const error = (await conn
      .ensure(async () => {
        throw new OperationalError('publish failed', { cause: authReplyError() });
      }, { maxRetries: 0 })
      .catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(OperationalError);
    expect(printed(error)).not.toContain(SECRET);
    await conn.close();
  });
});

describe('the sentinels\' own password', () => {
  it('is scrubbed too, whether it came in the query or in sentinelKwargs', async () => {
    const { broker, registry } = fakeSetup();
    const viaQuery = new Connection(`fake://h:1/?sentinel_password=${SECRET}`, { registry });
    const viaKwargs = new Connection('fake://h:1/', { registry, transportOptions: { sentinelKwargs: { password: SECRET } } });
    for (const conn of [viaQuery, viaKwargs]) {
      await conn.connect();
      const events: Error[] = [];
      conn.on('error', (e) => events.push(e));
      const transport = broker.transports.at(-1) as FakeTransport;
      transport.emit('error', new OperationalError(`AUTH ${SECRET} refused`, { cause: authReplyError() }));
      expect(events).toHaveLength(1);
      expect(printed(events[0] as Error)).not.toContain(SECRET);
      await conn.close();
    }
  });
});

describe('ensure() errors that are not connection errors', () => {
  it('scrubs a channel error that quotes the password, after its one retry', async () => {
    const { registry } = fakeSetup();
    const conn = new Connection(`fake://user:${SECRET}@h:1/`, { registry });
    const error = (await conn
      .ensure(async () => {
        throw new ChannelError(`ERR wrong number of arguments for AUTH user ${SECRET}`);
      })
      .catch((e: unknown) => e)) as Error;
    expect([error instanceof ChannelError, error.message]).toEqual([true, 'ERR wrong number of arguments for AUTH user **']);
    await conn.close();
  });
});
