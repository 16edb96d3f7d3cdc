import { ChannelError, OperationalError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { isRedisChannelError, isRedisConnectionError, replyCode, wrapRedisError } from '../src/errors.js';

function replyError(message: string): Error {
  const error = new Error(message);
  error.name = 'ReplyError';
  return error;
}
function sysError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });
}

describe('redis error classification', () => {
  it('treats refused, reset and timed-out sockets as connection errors', () => {
    expect(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].map((c) => isRedisConnectionError(sysError(c)))).toEqual([true, true, true, true]);
  });

  it('treats a closed ioredis connection as a connection error', () => {
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
  });

  it('treats LOADING, NOAUTH and READONLY replies as connection errors (reconnecting can fix them)', () => {
    expect(['LOADING Redis is loading', 'NOAUTH Authentication required.', "READONLY You can't write"].map((m) => isRedisConnectionError(replyError(m)))).toEqual([true, true, true]);
  });

  it('classifies a reply by its code, whatever the server says after it', () => {
    // Valkey 8's wording of each reply.
    const valkey = ['READONLY You can\'t write against a read only replica.', 'NOSCRIPT No matching script.', "NOSUB 'unsubscribe' command executed not in subscribed mode"];
    expect(valkey.map((m) => replyCode(replyError(m)))).toEqual(['READONLY', 'NOSCRIPT', 'NOSUB']);
    expect(isRedisConnectionError(replyError(valkey[0]!))).toBe(true);
    // A code named later in the text is not the reply's code.
    expect([isRedisConnectionError(replyError('ERR Error running script: READONLY')), replyCode(replyError('READONLYX y'))]).toEqual([false, 'READONLYX']);
    expect(replyCode(new Error('NOSCRIPT from a socket error'))).toBeUndefined();
  });

  it('treats WRONGTYPE and script errors as channel errors', () => {
    const wrongType = replyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    expect([isRedisChannelError(wrongType), isRedisConnectionError(wrongType), isRedisChannelError(replyError('ERR Error running script'))]).toEqual([true, false, true]);
  });

  it('wraps into OperationalError or ChannelError naming the operation and the redacted URL', () => {
    const op = wrapRedisError(sysError('ECONNREFUSED'), 'redis://:**@h:6379/0', 'lpush');
    const ch = wrapRedisError(replyError('WRONGTYPE x'), 'redis://:**@h:6379/0', 'lpush');
    expect([op instanceof OperationalError, ch instanceof ChannelError, op.message]).toEqual([true, true, 'redis lpush failed on redis://:**@h:6379/0: connect ECONNREFUSED 127.0.0.1:6379']);
  });

  it('passes kelp errors through unchanged', () => {
    const original = new OperationalError('already wrapped');
    expect(wrapRedisError(original, 'redis://h', 'x')).toBe(original);
  });
});
