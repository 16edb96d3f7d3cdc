import { describe, expect, it } from 'vitest';
import { diffCounters, parseInfo, redisClientFor, serverOf } from '../src/redis-info.js';

const INFO = [
  '# Stats',
  'total_commands_processed:120',
  'total_reads_processed:40',
  '# CPU',
  'used_cpu_sys:1.250000',
  'used_cpu_user:0.500001',
  'used_cpu_sys_children:9.000000',
  'used_cpu_sys_main_thread:1.200000',
  '# Commandstats',
  'cmdstat_lpush:calls=100,usec=300,usec_per_call=3.00,rejected_calls=0,failed_calls=0',
  'cmdstat_evalsha:calls=5,usec=50,usec_per_call=10.00,rejected_calls=0,failed_calls=0',
  'cmdstat_INFO:calls=2,usec=40,usec_per_call=20.00,rejected_calls=0,failed_calls=0',
].join('\r\n');

describe('Redis INFO probe', () => {
  it('reads per-command calls, commands, reads and server CPU from INFO text', () => {
    // CPU: used_cpu_sys + used_cpu_user only (1.25 s + 0.500001 s), not children or main thread.
    expect(parseInfo(INFO)).toEqual({ calls: { lpush: 100, evalsha: 5, info: 2 }, reads: 40, commands: 120, cpuUs: 1_750_001 });
  });

  it('diffs counters and drops commands that did not change', () => {
    const before = { calls: { lpush: 100, rpop: 3 }, reads: 40, commands: 120, cpuUs: 1000 };
    const after = { calls: { lpush: 150, rpop: 3, zadd: 7 }, reads: 45, commands: 180, cpuUs: 4500 };
    expect(diffCounters(before, after)).toEqual({ calls: { lpush: 50, zadd: 7 }, reads: 5, commands: 60, cpuUs: 3500 });
  });

  it('names the server and its version from INFO server, Valkey by valkey_version', () => {
    expect(serverOf('# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n')).toBe('Redis 7.0.15');
    const valkey = '# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n';
    expect(serverOf(valkey)).toBe('Valkey 8.0.1');
    expect(serverOf('')).toBe('Redis unknown');
  });

  it('connects as kelp would: credentials, database and socket from the URL', () => {
    const tcp = redisClientFor('redis://user:p%40ss@example:6390/3');
    expect(tcp?.options).toMatchObject({ host: 'example', port: 6390, username: 'user', password: 'p@ss', db: 3 });
    expect(tcp?.options.tls).toBeUndefined();
    expect(redisClientFor('redis+socket:///tmp/r.sock')?.options.path).toBe('/tmp/r.sock');
    expect(redisClientFor('memory://')).toBeUndefined();
  });

  it('verifies the server certificate on rediss:// unless the URL turns it off', () => {
    expect(redisClientFor('rediss://:pw@h/0')?.options.tls).toMatchObject({ rejectUnauthorized: true });
    expect(redisClientFor('rediss://:pw@h/0?ssl_cert_reqs=none')?.options.tls).toMatchObject({ rejectUnauthorized: false });
  });
});
