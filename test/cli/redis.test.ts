/**
 * The built `kelp` command against a real redis-server (the integration project's globalSetup),
 * one fresh db per file. Asserts on what the CLI prints and on the Redis keys it leaves.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';
import { finished, jsonLines, kelp, startKelp, waitForLines } from './kelp-process.js';

let db: FreshDb;
let redis: Redis;
beforeAll(async () => {
  db = await freshDb();
  redis = new Redis(db.url);
});
afterAll(async () => {
  await redis.quit();
});

const publish = (queue: string, ...rest: string[]): string[] => [
  'publish', db.url, '--exchange', `ex.${queue}`, '--routing-key', queue, '--queue', queue, ...rest,
];

describe('kelp publish, consume and purge on redis://', () => {
  it('publishes with --countdown into the delayed set, and kelp consume moves it when due and prints it', { timeout: 30_000 }, async () => {
    const before = Date.now();
    const published = await kelp([...publish('later', '--json', '--countdown', '1.5'), '{"n":1}']);
    expect([published.code, published.stderr]).toEqual([0, '']);
    expect(jsonLines(published.stdout)[0]).toMatchObject({ published: 1, routed: 1, delayed: 1, queues: ['later'] });
    expect([await redis.llen('later'), await redis.zcard('_kelp.delayed.later')]).toEqual([0, 1]);
    const inspected = await kelp(['inspect', db.url]);
    // `in N s` until the due time, `due` after it: a cold `kelp inspect` on a busy machine can
    // start after the 1.5 s (the `in` form is checked on a far due time in packages/cli/test).
    expect(inspected.stdout).toMatch(/^later\s.*\s1 \((in \d(\.\d)? s|due)\)$/m);

    const consumed = await kelp(['consume', db.url, '--queue', 'later', '--count', '1', '--timeout', '10', '--json']);
    expect(consumed.code).toBe(0);
    expect(jsonLines(consumed.stdout).map((m) => m['body'])).toEqual([{ n: 1 }]);
    expect(Date.now() - before).toBeGreaterThanOrEqual(1500);
    expect(await redis.exists('_kelp.delayed.later')).toBe(0);
  });

  it('refuses a bad --eta as bad usage (exit 2) before connecting', async () => {
    const result = await kelp([...publish('badeta'), '--eta', 'tomorrow', 'x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^kelp: error: --eta: eta must be a valid Date or an ISO 8601 string/);
  });

  it('publishes one message per stdin line and a second process consumes exactly those, acked', async () => {
    const bodies = Array.from({ length: 100 }, (_, i) => `{"n":${i}}`);
    const published = await kelp([...publish('lines', '--json'), '-'], { input: `${bodies.join('\n')}\n` });
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    expect(jsonLines(published.stdout)[0]).toMatchObject({ published: 100, routed: 100, queues: ['lines'] });
    expect(await redis.llen('lines')).toBe(100);

    const consumed = await kelp(['consume', db.url, '--queue', 'lines', '--count', '100', '--json']);
    expect(consumed.code).toBe(0);
    const messages = jsonLines(consumed.stdout);
    expect(messages.map((m) => (m['body'] as { n: number }).n).sort((a, b) => a - b)).toEqual(bodies.map((_, i) => i));
    expect(messages[0]).toMatchObject({ deliveryInfo: { exchange: 'ex.lines', routingKey: 'lines' } });
    expect(await redis.llen('lines')).toBe(0);
    expect(await redis.hlen('unacked')).toBe(0);
  });

  it('with --confirm on a server without replicas, stores every message, reports them unconfirmed and exits 1', async () => {
    const published = await kelp([...publish('unconfirmed', '--json', '--count', '20', '--confirm', '1', '--confirm-timeout', '0.2'), 'job']);
    expect(jsonLines(published.stdout)[0]).toMatchObject({ published: 20, routed: 20, unconfirmed: 20 });
    expect([published.code, published.stderr]).toEqual([1, expect.stringContaining('20 of 20 message(s) were stored but not confirmed by 1 replica(s)')]);
    expect(await redis.llen('unconfirmed')).toBe(20);
  });

  it('on SIGTERM finishes the message in hand, exits 0 and hands prefetched messages straight back', async () => {
    await kelp(publish('graceful', '--count', '50', 'job'));
    const child = startKelp(['consume', db.url, '--queue', 'graceful', '--prefetch', '10', '--json']);
    const done = finished(child);
    await waitForLines(child, 1);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    const printed = jsonLines(result.stdout).length;
    expect(printed).toBeGreaterThanOrEqual(1);
    // Everything printed was acked; everything else is back in the list, nothing left unacked.
    expect(await redis.llen('graceful')).toBe(50 - printed);
    expect(await redis.hlen('unacked')).toBe(0);
    // The stop landed with messages prefetched: some of the list was handed back (marked
    // redelivered), not only never popped.
    const handedBack = (await redis.lrange('graceful', 0, -1)).filter((raw) => /"redelivered": ?true/.test(raw)).length;
    expect(handedBack).toBeGreaterThan(0);
  });

  it('acks no message before its line was written when stdout is a pipe nobody reads', async () => {
    const total = 3000;
    const body = JSON.stringify({ pad: 'x'.repeat(1000) });
    await kelp(publish('slow', '--count', String(total), body));
    const acked = async (): Promise<number> => total - (await redis.llen('slow')) - (await redis.hlen('unacked'));
    const child = startKelp(['consume', db.url, '--queue', 'slow', '--count', String(total), '--json']);
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Nobody reads stdout: the pipe fills, writes stop completing, and acks must stop with them.
    let stable = 0;
    for (let last = -1, polls = 0; stable < 4 && polls < 50; polls++, await new Promise((resolve) => setTimeout(resolve, 200))) {
      const now = await acked();
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
    child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ackedWhileStalled = await acked();
    // Everything the stopped process wrote is in the pipe: read it all.
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    for (let length = -1; length !== output.length; await new Promise((resolve) => setTimeout(resolve, 300))) length = output.length;
    const writtenWhileStalled = output.split('\n').length - 1;
    expect(ackedWhileStalled).toBeLessThan(total);
    expect(ackedWhileStalled).toBeLessThanOrEqual(writtenWhileStalled);
    child.kill('SIGCONT');
    expect(await exited).toBe(0);
    expect(jsonLines(output)).toHaveLength(total);
    expect([await redis.llen('slow'), await redis.hlen('unacked')]).toEqual([0, 0]);
  }, 60_000);

  it('stops after --timeout seconds without a message, not before', async () => {
    const started = performance.now();
    const result = await kelp(['consume', db.url, '--queue', 'idle', '--timeout', '3']);
    const elapsed = performance.now() - started;
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('kelp: consumed 0 messages from idle (no message for 3 s)\n');
    // The idle time itself at least; at most that plus the process's start-up and connect.
    expect(elapsed).toBeGreaterThanOrEqual(3_000);
    expect(elapsed).toBeLessThan(3_000 + 6_000);
  });

  it('purges the waiting messages and reports the count', async () => {
    await kelp(publish('purgeme', '--count', '7', 'x'));
    const result = await kelp(['purge', db.url, '--queue', 'purgeme', '--json']);
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)).toEqual([{ queue: 'purgeme', purged: 7 }]);
    expect(await redis.llen('purgeme')).toBe(0);
  });

  it('stores a priority message in the priority sub-list Kombu reads', async () => {
    const result = await kelp(publish('prio', '--priority', '7', 'urgent'));
    expect(result.code).toBe(0);
    expect(await redis.llen('prio\x06\x166')).toBe(1);
  });
});

describe('kelp demo on redis://', () => {
  it('consumes and acks every message with none lost', async () => {
    const result = await kelp(['demo', db.url, '--messages', '2000', '--json'], { timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [summary] = jsonLines(result.stdout);
    expect(summary).toMatchObject({ published: 2000, consumed: 2000, acked: 2000, lost: 0, duplicates: 0 });
    expect(await redis.hlen('unacked')).toBe(0);
  });
});

describe('kelp bench on redis://', () => {
  it('runs the two-process workloads through its own worker command, every message delivered', async () => {
    const result = await kelp(['bench', db.url, '--workloads', 'e2e-saturated,e2e-paced', '--messages', '300', '--json'], { timeoutMs: 90_000 });
    expect(result.code).toBe(0);
    const { results } = JSON.parse(result.stdout) as { results: { id: string; messages: number; error?: string; extra?: { complete?: boolean } }[] };
    expect(results.map((r) => [r.id, r.error, r.messages, r.extra?.complete])).toEqual([
      ['e2e-saturated', undefined, 300, true],
      ['e2e-paced-1000', undefined, 300, true],
    ]);
  });
});

describe('kelp errors against redis://', () => {
  it('reports a refused connection in one line without the password', async () => {
    const result = await kelp(['purge', 'redis://:hunter2@127.0.0.1:1/0', '--queue', 'q'], { timeoutMs: 30_000 });
    expect(result.code).toBe(1);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^kelp: error: /);
    expect(result.stderr).not.toContain('hunter2');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
