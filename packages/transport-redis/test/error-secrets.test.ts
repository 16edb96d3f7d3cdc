import { OperationalError } from '@kelp/core';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { safeRedisCause, wrapRedisError } from '../src/errors.js';

const SECRET = 's3cret';

/** What ioredis rejects a failed AUTH with: a ReplyError that keeps the command and its arguments. */
function authReplyError(): Error {
  const error = new Error('WRONGPASS invalid username-password pair or user is disabled.');
  error.name = 'ReplyError';
  return Object.assign(error, { command: { name: 'auth', args: ['user', SECRET] } });
}

/** Every way an application may print an error: inspect (console.error), JSON and String. */
function printed(error: Error): string {
  const cause = error.cause as Error;
  return [inspect(error, { depth: 10, showHidden: true }), JSON.stringify(error), JSON.stringify(cause), String(error), String(cause)].join('\n');
}

describe('redis errors never carry a password', () => {
  it('wraps a failed AUTH reply into an OperationalError whose printed forms hold no password', () => {
    const wrapped = wrapRedisError(authReplyError(), 'redis://user:**@h:6379/0', 'connect');
    expect(wrapped).toBeInstanceOf(OperationalError);
    expect(printed(wrapped)).not.toContain(SECRET);
  });

  it('keeps the cause name, message, code and command name for diagnostics', () => {
    const error = Object.assign(authReplyError(), { code: 'WRONGPASS' });
    const cause = wrapRedisError(error, 'redis://h', 'connect').cause as Error & { code?: string; command?: unknown };
    expect([cause.name, cause.message, cause.code, cause.command]).toEqual([
      'ReplyError',
      'WRONGPASS invalid username-password pair or user is disabled.',
      'WRONGPASS',
      { name: 'auth' },
    ]);
  });

  it('drops the arguments of HELLO and MIGRATE, binary ones included', () => {
    const hello = Object.assign(new Error('NOPROTO'), { command: { name: 'hello', args: ['3', 'AUTH', 'user', Buffer.from(SECRET)] } });
    const migrate = Object.assign(new Error('IOERR'), { command: { name: 'migrate', args: ['h', '6379', 'k', '0', '1000', 'AUTH', SECRET] } });
    const texts = [hello, migrate].map((e) => printed(wrapRedisError(e, 'redis://h', 'x')));
    expect(texts.map((t) => t.includes(SECRET) || t.includes(Buffer.from(SECRET).toString('hex')))).toEqual([false, false]);
  });

  it('keeps EXEC previous errors without their command arguments', () => {
    const exec = Object.assign(new Error('EXECABORT Transaction discarded'), { name: 'ReplyError', previousErrors: [authReplyError()] });
    const cause = safeRedisCause(exec) as Error & { previousErrors?: Error[] };
    expect(cause.previousErrors?.map((e) => e.message)).toEqual(['WRONGPASS invalid username-password pair or user is disabled.']);
    expect(inspect(cause, { depth: 10 })).not.toContain(SECRET);
  });

  it('copies a socket error with its code, syscall and port so it is still classified', () => {
    const socket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED', syscall: 'connect', port: 6379 });
    const cause = wrapRedisError(socket, 'redis://h', 'connect').cause as Record<string, unknown>;
    expect([cause['code'], cause['syscall'], cause['port']]).toEqual(['ECONNREFUSED', 'connect', 6379]);
  });
});
