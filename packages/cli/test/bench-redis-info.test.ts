import { describe, expect, it } from 'vitest';
import { diffCounters, encodeCommand, parseInfo, parseReply, redisTarget } from '../src/bench/redis-info.js';

const INFO = [
  '# Stats',
  'total_commands_processed:120',
  'total_reads_processed:40',
  '# Commandstats',
  'cmdstat_lpush:calls=100,usec=300,usec_per_call=3.00,rejected_calls=0,failed_calls=0',
  'cmdstat_evalsha:calls=5,usec=50,usec_per_call=10.00,rejected_calls=0,failed_calls=0',
  'cmdstat_INFO:calls=2,usec=40,usec_per_call=20.00,rejected_calls=0,failed_calls=0',
].join('\r\n');

describe('Redis INFO probe', () => {
  it('reads per-command calls, commands and reads from INFO text', () => {
    expect(parseInfo(INFO)).toEqual({ calls: { lpush: 100, evalsha: 5, info: 2 }, reads: 40, commands: 120 });
  });

  it('diffs counters and drops commands that did not change', () => {
    const before = { calls: { lpush: 100, rpop: 3 }, reads: 40, commands: 120 };
    const after = { calls: { lpush: 150, rpop: 3, zadd: 7 }, reads: 45, commands: 180 };
    expect(diffCounters(before, after)).toEqual({ calls: { lpush: 50, zadd: 7 }, reads: 5, commands: 60 });
  });

  it('encodes commands as RESP arrays of bulk strings', () => {
    expect(encodeCommand(['AUTH', 'pä'])).toBe('*2\r\n$4\r\nAUTH\r\n$3\r\npä\r\n');
  });

  it('parses bulk, simple, integer, error and array replies', () => {
    const buf = Buffer.from('$5\r\nhello\r\n+OK\r\n:42\r\n-ERR bad\r\n*2\r\n$1\r\na\r\n$-1\r\n');
    const replies: unknown[] = [];
    let offset = 0;
    for (let parsed = parseReply(buf, offset); parsed; parsed = parseReply(buf, offset)) {
      replies.push(parsed.reply);
      offset = parsed.next;
    }
    expect(replies.slice(0, 3)).toEqual(['hello', 'OK', 42]);
    expect((replies[3] as Error).message).toBe('ERR bad');
    expect(replies[4]).toEqual(['a', null]);
    expect(offset).toBe(buf.length);
  });

  it('waits for the rest of a reply that arrived in pieces', () => {
    expect(parseReply(Buffer.from('$10\r\nhel'))).toBeUndefined();
    expect(parseReply(Buffer.from('*2\r\n:1\r\n'))).toBeUndefined();
  });

  it('finds host, port, credentials and TLS in Redis URLs and ignores other schemes', () => {
    expect(redisTarget('redis://user:p%40ss@example:6390/3')).toEqual({ tls: false, host: 'example', port: 6390, username: 'user', password: 'p@ss' });
    expect(redisTarget('rediss://:pw@h/0')).toEqual({ tls: true, host: 'h', port: 6379, password: 'pw' });
    expect(redisTarget('redis+socket:///tmp/r.sock')).toEqual({ tls: false, path: '/tmp/r.sock' });
    expect(redisTarget('memory://')).toBeUndefined();
  });
});
