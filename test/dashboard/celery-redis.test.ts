/**
 * The dashboard over HTTP on a Redis db that only Python wrote to: a Celery 5.2 client sends
 * three tasks and a Kombu 5.2.4 consumer takes one without acking and exits (it stays in
 * `unacked`), plus one dead letter in kelp's record format. Every action is checked in Redis.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Dashboard } from '@kelp/dashboard';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kombu } from '../interop/kombu-peer.js';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';
import { act, dashboardFor, getJson, search } from './helpers.js';

const run = promisify(execFile);
const SEP = '\x06\x16';

const CELERY_SEND = `
import sys
from celery import Celery
app = Celery('sender', broker=sys.argv[1])
for i in range(3):
    r = app.send_task('tasks.add', args=(i, 100 + i), kwargs={'note': 'n%d' % i}, priority=[0, 0, 9][i])
    print(r.id)
`;

const KOMBU_TAKE_AND_CRASH = `
import sys, os
from kombu import Connection, Queue
conn = Connection(sys.argv[1])
bound = Queue('celery', routing_key='celery')(conn.default_channel)
m = bound.get(no_ack=False)
assert m is not None
print(m.headers['id'])
sys.stdout.flush()
os._exit(0)
`;

interface Overview {
  exchanges: { name: string; bindings: { queue: string; routingKey: string }[] }[];
  queues: { name: string; length: number; priorityLengths: Record<string, number>; unacked: number; oldestUnackedAge: number | null; deadLetters: number }[];
}
interface MessageItem {
  id: string;
  position: number;
  view: { task?: { name: string; id?: string; args?: unknown; kwargs?: unknown; retries?: number; eta?: string | null }; headers: Record<string, unknown>; body: { kind: string; text: string } };
}
interface MessagesPage {
  total: number;
  step: number;
  items: MessageItem[];
}

let db: FreshDb;
let redis: Redis;
let dashboard: Dashboard;
let sentIds: string[];
let takenId: string;

const deadRecord = (payload: string, reason: string) => JSON.stringify({ reason, queue: 'celery', time: 1_700_000_000, payload });

beforeAll(async () => {
  db = await freshDb();
  redis = new Redis(db.url);
  sentIds = (await run('/usr/bin/python3', ['-c', CELERY_SEND, db.url], { timeout: 30_000 })).stdout.trim().split('\n');
  takenId = (await run('/usr/bin/python3', ['-c', KOMBU_TAKE_AND_CRASH, db.url], { timeout: 30_000 })).stdout.trim();
  // A dead letter holding a copy of a waiting task's envelope (a valid one, so it can be requeued).
  const sample = (await redis.lrange('celery', 0, 0))[0] as string;
  await redis.lpush(`celery${SEP}dead`, deadRecord(sample, 'rejected without requeue'));
  dashboard = await dashboardFor(db.url);
});
afterAll(async () => {
  await dashboard?.close();
  await redis?.quit();
});

async function waitingIds(): Promise<string[]> {
  const raws = [...(await redis.lrange('celery', 0, -1)), ...(await redis.lrange(`celery${SEP}9`, 0, -1))];
  return raws.map((raw) => (JSON.parse(raw) as { headers: { id: string } }).headers.id).sort();
}

describe('the overview of what Celery and Kombu wrote', () => {
  it('shows the celery queue with ready per priority step, the unacked task, its age and the dead letter', async () => {
    const { status, body } = await getJson<Overview>(dashboard, '/api/overview');
    expect(status).toBe(200);
    const celery = body.queues.find((q) => q.name === 'celery');
    expect(celery).toMatchObject({ length: 2, unacked: 1, deadLetters: 1 });
    expect(Object.values(celery?.priorityLengths ?? {}).reduce((a, b) => a + b, 0)).toBe(2);
    expect(celery?.oldestUnackedAge).toBeGreaterThanOrEqual(0);
    expect(body.exchanges.find((x) => x.name === 'celery')?.bindings).toEqual([{ queue: 'celery', routingKey: 'celery' }]);
  });

  it('records samples for the charts', async () => {
    await new Promise((resolve) => setTimeout(resolve, 600));
    const { body } = await getJson<{ samples: { queues: Record<string, { ready: number; unacked: number }> }[] }>(dashboard, '/api/history');
    expect(body.samples.length).toBeGreaterThanOrEqual(2);
    expect(body.samples.at(-1)?.queues['celery']).toMatchObject({ ready: 2, unacked: 1 });
  });
});

describe('messages', () => {
  it('pages waiting tasks of each priority sub-list without consuming them, with name, args, kwargs, id and retries', async () => {
    const overview = (await getJson<Overview>(dashboard, '/api/overview')).body.queues.find((q) => q.name === 'celery');
    const seen: MessageItem[] = [];
    for (const step of Object.keys(overview?.priorityLengths ?? {})) {
      for (const order of ['oldest', 'newest']) {
        const { body } = await getJson<MessagesPage>(dashboard, `/api/queues/celery/messages?step=${step}&order=${order}&limit=10`);
        expect(body.total).toBe(body.items.length);
        if (order === 'oldest') seen.push(...body.items);
      }
    }
    expect(seen.map((m) => m.view.task?.id).sort()).toEqual(sentIds.filter((id) => id !== takenId).sort());
    const first = seen[0]?.view.task;
    expect(first?.name).toBe('tasks.add');
    expect(first?.retries).toBe(0);
    expect(first?.kwargs).toMatchObject({ note: expect.stringMatching(/^n\d$/) });
    expect(Array.isArray(first?.args)).toBe(true);
    expect((await waitingIds()).length).toBe(2);
  });

  it('orders a sub-list oldest first (next to be consumed) and newest first', async () => {
    await redis.lpush('order.q', 'first', 'second', 'third');
    const oldest = (await getJson<MessagesPage>(dashboard, '/api/queues/order.q/messages?order=oldest')).body.items.map((m) => m.view.body.text);
    const newest = (await getJson<MessagesPage>(dashboard, '/api/queues/order.q/messages?order=newest&offset=1&limit=1')).body.items.map((m) => m.view.body.text);
    expect([oldest, newest]).toEqual([['first', 'second', 'third'], ['second']]);
  });

  it('lists the unacked task with its tag and age', async () => {
    const { body } = await getJson<{ items: { tag: string; queues: string[]; age: number; view: MessageItem['view'] }[] }>(dashboard, '/api/unacked?queue=celery');
    expect(body.items.map((i) => i.view.task?.id)).toEqual([takenId]);
    expect(body.items[0]?.queues).toEqual(['celery']);
  });
});

describe('search', () => {
  it('finds a waiting task by a header value (its task id) and states how many messages it read', async () => {
    const wanted = sentIds.find((id) => id !== takenId) as string;
    const lines = await search(dashboard, { text: wanted });
    const matches = lines.filter((l) => l['type'] === 'match');
    expect(matches.map((m) => [m['source'], (m['view'] as MessageItem['view']).task?.id])).toContainEqual(['waiting', wanted]);
    expect(lines.at(-1)).toMatchObject({ type: 'done', bounded: false });
    expect(lines.at(-1)?.['scanned']).toBeGreaterThanOrEqual(4);
  });

  it('finds the unacked task by text in its decoded body (kwargs)', async () => {
    const taken = (await getJson<{ items: { view: MessageItem['view'] }[] }>(dashboard, '/api/unacked?queue=celery')).body.items[0]?.view.task;
    const note = (taken?.kwargs as { note: string }).note;
    const matches = (await search(dashboard, { text: note, queue: 'celery' })).filter((l) => l['type'] === 'match');
    expect(matches.map((m) => m['source'])).toContain('unacked');
  });

  it('stops at the bound it is given', async () => {
    const lines = await search(dashboard, { text: 'no-such-text', limit: '2' });
    expect(lines.at(-1)).toMatchObject({ type: 'done', scanned: 2, matches: 0, bounded: true });
  });
});

describe('repair actions, checked in Redis', () => {
  it('restores the one unacked task by tag under unacked_mutex, and says so', async () => {
    const tag = (await redis.hkeys('unacked'))[0] as string;
    // A Python restorer holds the lock: the action waits for it rather than racing it.
    await redis.set('unacked_mutex', 'python-token', 'PX', 400);
    const started = Date.now();
    const result = await act<{ restored: boolean; queues: string[]; summary: string }>(dashboard, 'restore', { tag });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(result.body).toMatchObject({ restored: true, queues: ['celery'] });
    expect(result.body.summary).toContain('restored message');
    expect([await redis.hlen('unacked'), await redis.zcard('unacked_index'), await redis.exists('unacked_mutex')]).toEqual([0, 0, 0]);
    expect(await waitingIds()).toContain(takenId);
    expect((await act<{ restored: boolean }>(dashboard, 'restore', { tag })).body.restored).toBe(false);
  });

  it('requeues the one dead letter by id', async () => {
    const { body } = await getJson<{ entries: { id: string }[] }>(dashboard, '/api/queues/celery/dead-letters');
    const before = (await waitingIds()).length;
    const result = await act<{ requeued: boolean }>(dashboard, 'requeue-dead-letters', { queue: 'celery', id: body.entries[0]?.id });
    expect(result.body.requeued).toBe(true);
    expect([await redis.llen(`celery${SEP}dead`), (await waitingIds()).length]).toEqual([0, before + 1]);
  });

  it('deletes one waiting message by id and leaves the others', async () => {
    const page = (await getJson<MessagesPage>(dashboard, '/api/queues/celery/messages?step=0')).body;
    const victim = page.items[0] as MessageItem;
    const before = await waitingIds();
    const result = await act<{ deleted: boolean }>(dashboard, 'delete', { queue: 'celery', step: 0, id: victim.id });
    expect(result.body.deleted).toBe(true);
    const after = await waitingIds();
    expect(after.length).toBe(before.length - 1);
    expect((await act<{ deleted: boolean }>(dashboard, 'delete', { queue: 'celery', step: 0, id: 'f'.repeat(40) })).body.deleted).toBe(false);
  });

  it('moves messages to another queue, rewriting their route so a restore brings them back there', async () => {
    const before = await waitingIds();
    const result = await act<{ moved: number }>(dashboard, 'move', { from: 'celery', to: 'celery.parked' });
    expect(result.body.moved).toBe(before.length);
    const parked = [...(await redis.lrange('celery.parked', 0, -1)), ...(await redis.lrange(`celery.parked${SEP}9`, 0, -1))].map(
      (raw) => JSON.parse(raw) as { headers: { id: string }; properties: { delivery_info: { exchange: string; routing_key: string } } },
    );
    expect(parked.map((m) => m.headers.id).sort()).toEqual(before);
    expect(parked.map((m) => m.properties.delivery_info)).toEqual(parked.map(() => ({ exchange: '', routing_key: 'celery.parked' })));
    expect(await waitingIds()).toEqual([]);
    // Python Kombu reads a moved message as it reads any other.
    const taken = await kombu<{ messages: { headers: { id: string }; routing_key: string }[] }>('consume', {
      url: db.url,
      exchange: '',
      queue: 'celery.parked',
      binding_key: 'celery.parked',
      count: 1,
      timeout: 10,
    });
    expect(taken.messages.map((m) => [before.includes(m.headers.id), m.routing_key])).toEqual([[true, 'celery.parked']]);
  });

  it('purges only after the queue name is typed', async () => {
    const wrong = await act(dashboard, 'purge', { queue: 'celery.parked', confirm: 'celery' });
    expect(wrong.status).toBe(400);
    expect(await redis.llen('celery.parked')).toBeGreaterThan(0);
    const right = await act<{ purged: number }>(dashboard, 'purge', { queue: 'celery.parked', confirm: 'celery.parked' });
    expect(right.body.purged).toBeGreaterThan(0);
    expect([await redis.exists('celery.parked'), await redis.exists(`celery.parked${SEP}9`)]).toEqual([0, 0]);
  });
});
