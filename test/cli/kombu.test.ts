/**
 * The built `kelp` command and Debian's Python Kombu (/usr/bin/python3) on one Redis db: what one
 * writes, the other reads, with bodies, headers, priorities and serializers intact.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDb, type FreshDb } from '../setup/fresh-db.js';
import { jsonLines, kelp } from './kelp-process.js';

const run = promisify(execFile);
let db: FreshDb;
let redis: Redis;
beforeAll(async () => {
  db = await freshDb();
  redis = new Redis(db.url);
});
afterAll(async () => {
  await redis.quit();
});

async function python(script: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('/usr/bin/python3', ['-c', script, ...args], { timeout: 30_000 });
  return stdout;
}

const KOMBU_PUBLISH = `
import sys
from kombu import Connection, Exchange, Queue
url, n = sys.argv[1], int(sys.argv[2])
ex = Exchange('py.tasks', type='direct')
q = Queue('py.q', ex, routing_key='py')
with Connection(url) as conn:
    producer = conn.Producer()
    for i in range(n):
        producer.publish({'n': i, 'from': 'kombu'}, exchange=ex, routing_key='py', declare=[q],
                         headers={'lang': 'py'}, serializer='msgpack' if i % 2 else 'json')
`;

const KOMBU_CONSUME = `
import sys, json
from kombu import Connection, Exchange, Queue
url, n = sys.argv[1], int(sys.argv[2])
q = Queue('js.q', Exchange('js.tasks', type='direct'), routing_key='js')
got = []
def on(body, message):
    got.append({'body': body, 'headers': message.headers, 'priority': message.properties.get('priority'),
                'content_type': message.content_type})
    message.ack()
with Connection(url) as conn:
    with conn.Consumer(q, callbacks=[on], accept=['json', 'msgpack']):
        while len(got) < n:
            conn.drain_events(timeout=10)
print(json.dumps(got))
`;

describe('kelp and Python Kombu on one Redis', () => {
  it('kelp consume prints what a Kombu producer published, json and msgpack alike, and acks it', async () => {
    await python(KOMBU_PUBLISH, db.url, '4');
    const result = await kelp(['consume', db.url, '--queue', 'py.q', '--count', '4', '--json']);
    expect(result.code).toBe(0);
    const messages = jsonLines(result.stdout);
    expect(messages.map((m) => m['body'])).toEqual([0, 1, 2, 3].map((n) => ({ n, from: 'kombu' })));
    expect(messages.map((m) => m['contentType'])).toEqual(['application/json', 'application/x-msgpack', 'application/json', 'application/x-msgpack']);
    expect(messages.every((m) => (m['headers'] as Record<string, unknown>)['lang'] === 'py')).toBe(true);
    expect([await redis.llen('py.q'), await redis.hlen('unacked')]).toEqual([0, 0]);
  });

  it('a Kombu consumer receives what kelp publish sent, with headers and in Kombu priority order', async () => {
    const publish = (priority: string, body: string): Promise<unknown> =>
      kelp(['publish', db.url, '--exchange', 'js.tasks', '--routing-key', 'js', '--queue', 'js.q', '--priority', priority, '--header', 'lang=js', '--serializer', 'msgpack', body]);
    await publish('9', '{"job":"low"}');
    await publish('0', '{"job":"high"}');
    const got = JSON.parse(await python(KOMBU_CONSUME, db.url, '2')) as { body: unknown; headers: unknown; priority: number; content_type: string }[];
    // On Redis, Kombu serves priority 0 first.
    expect(got).toEqual([
      { body: { job: 'high' }, headers: { lang: 'js' }, priority: 0, content_type: 'application/x-msgpack' },
      { body: { job: 'low' }, headers: { lang: 'js' }, priority: 9, content_type: 'application/x-msgpack' },
    ]);
  });
});
