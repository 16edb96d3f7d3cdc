/**
 * The page in headless Chromium on a Redis db that Python filled: Celery sends three tasks, a
 * Kombu consumer takes one and dies holding it, one dead letter waits, and one queue holds a
 * body written to run script. The test reads the overview, searches by a header value,
 * requeues the dead letter and restores the unacked task by clicking, checking each effect in
 * Redis; the markup body must show as text; an action without the token is refused. The
 * screenshots of the overview and a message page go to test/dashboard/artifacts/.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Dashboard } from '@kelp/dashboard';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb } from '../setup/fresh-db.js';
import { BrowserPage } from './cdp.js';
import { dashboardFor } from './helpers.js';

const run = promisify(execFile);
const SEP = '\x06\x16';
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const XSS_BODY = '<script>window.__owned = 1</script><img src=x onerror="window.__owned = 2">';

const PYTHON_FILL = `
import sys, os
from celery import Celery
from kombu import Connection, Queue
app = Celery('sender', broker=sys.argv[1])
ids = [app.send_task('tasks.resize', args=('photo-%d.jpg' % i,), kwargs={'width': 640}).id for i in range(3)]
conn = Connection(sys.argv[1])
m = Queue('celery', routing_key='celery')(conn.default_channel).get(no_ack=False)
print(' '.join(ids + [m.headers['id']]))
sys.stdout.flush()
os._exit(0)
`;

let redis: Redis;
let dashboard: Dashboard;
let page: BrowserPage;
let waitingId: string;
let dbUrl: string;

beforeAll(async () => {
  const db = await freshDb();
  dbUrl = db.url;
  redis = new Redis(db.url);
  const ids = (await run('/usr/bin/python3', ['-c', PYTHON_FILL, db.url], { timeout: 30_000 })).stdout.trim().split(' ');
  const taken = ids.at(-1) as string;
  waitingId = ids.slice(0, 3).find((id) => id !== taken) as string;
  const sample = (await redis.lrange('celery', -1, -1))[0] as string;
  await redis.lpush(`celery${SEP}dead`, JSON.stringify({ reason: 'rejected without requeue', queue: 'celery', time: 1_700_000_000, payload: sample }));
  await redis.lpush('a.untrusted', XSS_BODY);
  dashboard = await dashboardFor(db.url);
  page = await BrowserPage.open(dashboard.pageUrl);
  mkdirSync(ARTIFACTS, { recursive: true });
});
afterAll(async () => {
  await page?.close();
  await dashboard?.close();
  await redis?.quit();
});

const rowText = (queue: string) => `document.querySelector('#queues tr[data-queue="${queue}"]')?.innerText`;

async function showMessages(queue: string, source: string): Promise<void> {
  await page.evaluate(`location.hash = '#messages'`);
  await page.waitFor(`document.getElementById('queue')`);
  for (const [id, value] of [['queue', queue], ['source', source]]) {
    await page.evaluate(`(() => { const s = document.getElementById('${id}'); s.value = ${JSON.stringify(value)}; s.dispatchEvent(new Event('change')); })()`);
    await page.waitFor(`document.getElementById('${id}')?.value === ${JSON.stringify(value)}`);
  }
  await page.waitFor(`document.querySelector('#list[data-queue=${JSON.stringify(queue)}][data-source=${JSON.stringify(source)}]')`);
}

describe('the dashboard page in Chromium', () => {
  it('shows the overview of what Python wrote: the celery queue, its unacked task, its dead letter, the binding', async () => {
    await page.waitFor(`${rowText('celery')}`);
    const cells = await page.evaluate<string[]>(`[...document.querySelectorAll('#queues tr[data-queue="celery"] td')].map((td) => td.innerText)`);
    expect(cells.slice(0, 6)).toEqual(['celery', '2', '0:2', '1', expect.stringMatching(/s$/), '1']);
    expect(await page.evaluate<string>(`document.getElementById('exchanges').innerText`)).toContain('celery');
    expect(await page.evaluate<string>(`location.hash`)).toBe('#overview');
    writeFileSync(`${ARTIFACTS}overview.png`, await page.screenshot());
  });

  it('refuses a restore of every queue when the seconds prompt is cleared, restoring nothing', async () => {
    await page.waitFor(`document.querySelector('button[data-action="restore-all"]')`);
    page.promptAnswer = '';
    await page.evaluate(`document.querySelector('button[data-action="restore-all"]').click()`);
    await page.waitFor(`document.getElementById('status').innerText.includes('give a number of seconds above 0')`);
    expect([await redis.hlen('unacked'), await redis.llen('celery')]).toEqual([1, 2]);
  });

  it('finds a waiting task by its id header', async () => {
    await page.evaluate(`location.hash = '#search'`);
    await page.waitFor(`document.getElementById('search-text')`);
    await page.evaluate(`(() => { document.getElementById('search-text').value = ${JSON.stringify(waitingId)}; document.querySelector('#search form').requestSubmit(); })()`);
    await page.waitFor(`document.querySelector('#results .match[data-source="waiting"]')`);
    expect(await page.evaluate<string>(`document.getElementById('results').innerText`)).toContain(waitingId);
    await page.waitFor(`document.getElementById('search-progress').innerText.startsWith('done')`);
  });

  it('requeues the dead letter with a click', async () => {
    await showMessages('celery', 'dead letters');
    await page.waitFor(`document.querySelector('button[data-action="requeue-one"]')`);
    await page.evaluate(`document.querySelector('button[data-action="requeue-one"]').click()`);
    await page.waitFor(`document.getElementById('status').innerText.includes('requeued 1 dead letter')`);
    expect([await redis.llen(`celery${SEP}dead`), await redis.llen('celery')]).toEqual([0, 3]);
  });

  it('restores the unacked task with a click, after a confirmation', async () => {
    await showMessages('celery', 'unacked');
    await page.waitFor(`document.querySelector('button[data-action="restore-one"]')`);
    await page.evaluate(`document.querySelector('button[data-action="restore-one"]').click()`);
    await page.waitFor(`document.getElementById('status').innerText.includes('restored message')`);
    expect(page.dialogs.at(-1)).toContain('run twice');
    expect([await redis.hlen('unacked'), await redis.llen('celery')]).toEqual([0, 4]);
  });

  it('shows a body holding <script> as text, and the script never runs', async () => {
    await showMessages('a.untrusted', 'waiting');
    await page.waitFor(`document.querySelector('#list[data-queue="a.untrusted"] pre.body')`);
    expect(await page.evaluate<string>(`document.querySelector('#list[data-queue="a.untrusted"] pre.body').textContent`)).toBe(XSS_BODY);
    expect(await page.evaluate<unknown>(`window.__owned ?? null`)).toBeNull();
    expect(await page.evaluate<number>(`document.querySelectorAll('#main script, #main img').length`)).toBe(0);
    await showMessages('celery', 'waiting');
    await page.waitFor(`document.querySelector('#list .task')`);
    writeFileSync(`${ARTIFACTS}messages.png`, await page.screenshot());
  });

  it('refuses an action sent without the token from the page itself', async () => {
    const status = await page.evaluate<number>(
      `fetch('/api/actions/purge', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ queue: 'celery', confirm: 'celery' }) }).then((r) => r.status)`,
    );
    expect(status).toBe(403);
    expect(await redis.llen('celery')).toBe(4);
    expect(page.consoleErrors).toEqual([]);
  });

  it('shows no action at all in read-only mode', async () => {
    const readOnly = await dashboardFor(dbUrl, { readOnly: true });
    const other = await BrowserPage.open(readOnly.pageUrl);
    try {
      await other.waitFor(`document.querySelector('#queues tr[data-queue="celery"]')`);
      expect(await other.evaluate<string>(`document.getElementById('mode').innerText`)).toBe('read-only');
      await other.evaluate(`location.hash = '#messages'`);
      await other.waitFor(`document.querySelector('#list table')`);
      expect(await other.evaluate<number>(`document.querySelectorAll('[data-action]').length`)).toBe(0);
    } finally {
      await other.close();
      await readOnly.close();
    }
  });
});
