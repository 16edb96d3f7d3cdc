/**
 * What keeps the dashboard from being a hole: loopback by default, a password for any other
 * bind, the per-run token (reads and actions), the same-origin check, read-only, the Host check, the CSP, and the
 * broker password never leaving the server. Run against a Redis that requires a password.
 */
import { startDashboard, type Dashboard } from '@kelp/dashboard';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, startKelp } from '../cli/kelp-process.js';
import { startRedisServer, type RedisServerHandle } from '../setup/redis-server.js';
import { act, dashboardFor, getJson, search, TOKEN } from './helpers.js';

const PASSWORD = 'hunter2-secret-Zq9';
let server: RedisServerHandle;
let url: string;
let redis: Redis;
let dashboard: Dashboard;

beforeAll(async () => {
  server = await startRedisServer({ extraArgs: ['--requirepass', PASSWORD] });
  url = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}/0`;
  redis = new Redis(url);
  await redis.lpush('safe.q', 'plain message');
  await redis.lpush(`safe.q\x06\x16dead`, JSON.stringify({ reason: 'rejected', queue: 'safe.q', time: 1, payload: 'x' }));
  dashboard = await dashboardFor(url);
});
afterAll(async () => {
  await dashboard?.close();
  await redis?.quit();
  await server?.stop();
});

describe('binding', () => {
  it('listens on 127.0.0.1 by default', () => {
    expect(new URL(dashboard.url).hostname).toBe('127.0.0.1');
  });

  it('refuses a non-loopback bind without a password, naming the option', async () => {
    await expect(startDashboard({ url: 'memory://', host: '0.0.0.0' })).rejects.toThrow(/option `password` is required to listen on 0\.0\.0\.0/);
  });

  it('kelp dashboard --host 0.0.0.0 exits 2 without a password', async () => {
    const result = await finished(startKelp(['dashboard', 'memory://', '--host', '0.0.0.0']), 20_000);
    expect([result.code, result.stderr]).toEqual([2, expect.stringContaining('password')]);
  });

  it('kelp dashboard --read-only --json says where it listens and that it is read-only', async () => {
    const child = startKelp(['dashboard', 'memory://', '--read-only', '--json']);
    const line = await new Promise<string>((resolve) => child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    child.kill('SIGINT');
    const result = await finished(child, 20_000);
    expect(JSON.parse(line)).toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/), readOnly: true, broker: 'memory://' });
    expect(result.code).toBe(0);
  });

  it('a non-loopback bind with a password answers only with basic auth', async () => {
    const open = await startDashboard({ url: 'memory://', host: '0.0.0.0', password: 'open-sesame-1' });
    try {
      const address = open.url.replace('0.0.0.0', '127.0.0.1');
      expect((await fetch(new URL('/api/config', address))).status).toBe(401);
      const wrong = await fetch(new URL('/api/config', address), { headers: { Authorization: `Basic ${Buffer.from('x:nope').toString('base64')}` } });
      expect(wrong.status).toBe(401);
      const right = await fetch(new URL('/api/config', address), { headers: { Authorization: `Basic ${Buffer.from('ops:open-sesame-1').toString('base64')}`, 'X-Kelp-Token': open.token } });
      expect(right.status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('actions', () => {
  const restore = { olderThan: 3600 };

  it('are accepted with the token from this origin', async () => {
    expect((await act(dashboard, 'restore', restore)).status).toBe(200);
  });

  it('are refused without the token, or with a wrong one', async () => {
    const none = await act(dashboard, 'restore', restore, { 'X-Kelp-Token': '' });
    const wrong = await act(dashboard, 'restore', restore, { 'X-Kelp-Token': `${TOKEN}x` });
    expect([none.status, wrong.status]).toEqual([403, 403]);
    expect(none.body['error']).toMatch(/token/);
  });

  it('are refused from another origin, even with the token', async () => {
    const origin = await act(dashboard, 'restore', restore, { Origin: 'http://evil.example' });
    const site = await act(dashboard, 'restore', restore, { 'Sec-Fetch-Site': 'cross-site' });
    expect([origin.status, site.status]).toEqual([403, 403]);
  });

  it('refuse a bulk restore with olderThan 0 (it would restore messages being processed) unless all: true is sent', async () => {
    const envelope = JSON.stringify({ body: 'e30=', 'content-encoding': 'utf-8', 'content-type': 'application/json', headers: {}, properties: { delivery_info: { exchange: '', routing_key: 'busy.q' }, body_encoding: 'base64', delivery_tag: 'busy-1' } });
    await redis.hset('unacked', 'busy-1', `[${envelope}, "", "busy.q"]`);
    await redis.zadd('unacked_index', Date.now() / 1000, 'busy-1');
    const zero = await act(dashboard, 'restore', { olderThan: 0 });
    const both = await act(dashboard, 'restore', { olderThan: 5, all: true });
    const notTrue = await act(dashboard, 'restore', { all: 'yes' });
    expect([zero.status, both.status, notTrue.status]).toEqual([400, 400, 400]);
    expect(zero.body['error']).toMatch(/all: true/);
    expect([await redis.hlen('unacked'), await redis.llen('busy.q')]).toEqual([1, 0]);
    const all = await act<{ total: number }>(dashboard, 'restore', { all: true });
    expect([all.status, all.body.total]).toEqual([200, 1]);
    expect([await redis.hlen('unacked'), await redis.llen('busy.q')]).toEqual([0, 1]);
    await redis.del('busy.q');
  });

  it('refuse a body over 16 KiB', async () => {
    const big = await act(dashboard, 'purge', { queue: 'safe.q', confirm: 'safe.q', pad: 'x'.repeat(20_000) });
    expect(big.status).toBe(413);
    expect(await redis.llen('safe.q')).toBe(1);
  });

  it('are refused as a form post (not JSON)', async () => {
    const response = await fetch(new URL('/api/actions/purge', dashboard.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Kelp-Token': TOKEN },
      body: 'queue=safe.q&confirm=safe.q',
    });
    expect(response.status).toBe(403);
    expect(await redis.llen('safe.q')).toBe(1);
  });

  it('are refused in read-only mode, whatever they carry, and the page is told', async () => {
    const readOnly = await dashboardFor(url, { readOnly: true });
    try {
      const result = await act(readOnly, 'purge', { queue: 'safe.q', confirm: 'safe.q' });
      expect([result.status, result.body['error']]).toEqual([403, expect.stringContaining('read-only')]);
      expect((await getJson(readOnly, '/api/config')).body['readOnly']).toBe(true);
      expect(await redis.llen('safe.q')).toBe(1);
    } finally {
      await readOnly.close();
    }
  });
});

describe('reads', () => {
  it('are refused without the token, or with a wrong one, even on loopback; the page itself loads without it', async () => {
    const paths = ['/api/config', '/api/overview', '/api/history', '/api/queues/safe.q/messages', '/api/unacked', '/api/queues/safe.q/dead-letters', '/api/search?text=plain'];
    for (const path of paths) {
      const none = await getJson(dashboard, path, { headers: { 'X-Kelp-Token': '' } });
      const wrong = await getJson(dashboard, path, { headers: { 'X-Kelp-Token': `${TOKEN}x` } });
      expect([path, none.status, wrong.status]).toEqual([path, 403, 403]);
      expect(none.text).not.toContain('plain message');
      expect(none.body['error']).toMatch(/token/);
    }
    const withToken = await getJson<{ items: unknown[] }>(dashboard, '/api/queues/safe.q/messages');
    expect([withToken.status, withToken.body.items.length]).toEqual([200, 1]);
    for (const path of ['/', '/assets/app.js']) expect([path, (await fetch(new URL(path, dashboard.url))).status]).toEqual([path, 200]);
  });

  it('are refused when the browser says another site asks (a page cannot make the dashboard search for it)', async () => {
    const cross = await getJson(dashboard, '/api/search?text=plain', { headers: { 'Sec-Fetch-Site': 'cross-site' } });
    const same = await getJson(dashboard, '/api/overview', { headers: { 'Sec-Fetch-Site': 'same-origin' } });
    const page = await fetch(dashboard.url, { headers: { 'Sec-Fetch-Site': 'cross-site' } });
    expect([cross.status, same.status, page.status]).toEqual([403, 200, 200]);
  });
});

describe('the page', () => {
  it('refuses a Host header other than its own (DNS rebinding)', async () => {
    const { port } = new URL(dashboard.url);
    const { request } = await import('node:http');
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/api/config', headers: { Host: `rebind.example:${port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(421);
  });

  it('is served with a Content-Security-Policy that allows no inline or foreign script', async () => {
    const response = await fetch(dashboard.url);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('never shows the broker password: not in the page, the API, an error or the CLI output', async () => {
    const texts: string[] = [];
    for (const path of ['/', '/assets/app.js', '/api/config', '/api/overview', '/api/history', '/api/queues/safe.q/messages', '/api/unacked', '/api/queues/safe.q/dead-letters', '/api/queues/safe.q/messages?step=x', '/api/search?text=plain']) {
      texts.push((await getJson(dashboard, path)).text);
    }
    texts.push((await act(dashboard, 'move', { from: 'safe.q', to: 'safe.q' })).text);
    expect((await getJson(dashboard, '/api/config')).body['broker']).toBe(`redis://:**@127.0.0.1:${server.port}/0`);
    const cli = startKelp(['dashboard', url]);
    let out = '';
    cli.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await new Promise((resolve) => cli.stdout?.once('data', resolve));
    cli.kill('SIGINT');
    const result = await finished(cli, 20_000);
    texts.push(out + result.stdout + result.stderr);
    expect(out).toContain('redis://:**@');
    for (const text of texts) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
    }
  });

  it('keeps the password out of the error when the broker refuses it', async () => {
    const bad = `redis://:wrong-${PASSWORD}@127.0.0.1:${server.port}/0`;
    const error = await startDashboard({ url: bad }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(String(error?.message)).not.toContain(PASSWORD);
  });
});

describe('message bodies', () => {
  it('are data: a <script> body comes back as text, a binary one as hex, a long one truncated', async () => {
    await redis.lpush('xss.q', Buffer.from([0xff, 0x00, 0x41]), 'y'.repeat(5000), '<script>alert(1)</script><img src=x onerror=alert(2)>');
    const { body } = await getJson<{ items: { view: { body: { kind: string; text: string; truncated: boolean } } }[] }>(dashboard, '/api/queues/xss.q/messages');
    expect(body.items.map((i) => [i.view.body.kind, i.view.body.text.slice(0, 30), i.view.body.truncated])).toEqual([
      ['hex', 'ff 00 41', false],
      ['text', 'y'.repeat(30), true],
      ['text', '<script>alert(1)</script><img ', false],
    ]);
  });
});

describe('byte bounds', () => {
  it('cut a list page short once it holds 4 MiB of messages, and say so', async () => {
    const big = 'b'.repeat(200 * 1024);
    await redis.lpush('bytes.q', ...Array.from({ length: 30 }, (_, i) => `${i}:${big}`));
    const { body } = await getJson<{ total: number; items: { position: number }[]; limitedByBytes: boolean }>(dashboard, '/api/queues/bytes.q/messages?limit=200');
    expect([body.total, body.items.length, body.limitedByBytes, body.items.at(-1)?.position]).toEqual([30, 25, true, 24]);
    const next = await getJson<{ items: { position: number }[]; limitedByBytes: boolean }>(dashboard, '/api/queues/bytes.q/messages?limit=200&offset=25');
    expect([next.body.items.length, next.body.limitedByBytes, next.body.items[0]?.position]).toEqual([5, false, 25]);
    await redis.del('bytes.q');
  });

  it('match a message on its first MiB only', async () => {
    const filler = 'f'.repeat(1024 * 1024);
    await redis.lpush('match.q', `early-needle ${filler}`, `${filler} late-needle`);
    const found = async (text: string) => (await search(dashboard, { text, queue: 'match.q' })).filter((line) => line['type'] === 'match').length;
    expect([await found('early-needle'), await found('late-needle')]).toEqual([1, 0]);
    await redis.del('match.q');
  });
});
