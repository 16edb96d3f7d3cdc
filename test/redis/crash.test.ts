/**
 * The design promise: no moment at which killing a consumer loses a message. A child process
 * consumes and acks while it is SIGKILLed at a random moment; afterwards every published tag is
 * still in the queue, in `unacked` (to be restored), or had its ack confirmed by the child. The
 * only other tags allowed to be gone are those whose ack the child had sent when it died (at
 * most one prefetch window): a delivery alone does not count. Each round also shows that the
 * kill landed while the child held delivered, unacked messages.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bundleChild, repoRoot, type ChildBundle } from '../setup/child-bundle.js';
import { redisFixture, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
let childBundle: ChildBundle;
/** The children's evidence files (see fixtures/crash-consumer.ts for why not stdout). */
let logDir: string;

beforeAll(async () => {
  fx = await redisFixture();
  logDir = mkdtempSync(join(tmpdir(), 'kelp-crash-'));
  childBundle = await bundleChild({ entry: fileURLToPath(new URL('./fixtures/crash-consumer.ts', import.meta.url)) }, 'crash-consumer');
});
afterAll(async () => {
  childBundle?.remove();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
  await fx.close();
});

const envelope = (tag: string, queue: string) =>
  JSON.stringify({ body: 'e30=', 'content-type': 'application/json', 'content-encoding': 'utf-8', headers: {}, properties: { delivery_tag: tag, delivery_info: { exchange: '', routing_key: queue }, priority: 0, body_encoding: 'base64' } });

const PREFETCH = 50;

/** Every key of the test's db with its type and size, for the message of a failed round. */
async function describeDb(fixture: RedisFixture): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await fixture.redis.keys('*')) {
    const type = await fixture.redis.type(key);
    const size = type === 'list' ? await fixture.redis.llen(key) : type === 'hash' ? await fixture.redis.hlen(key) : type === 'zset' ? await fixture.redis.zcard(key) : '';
    out[key] = `${type} ${size}`;
  }
  return out;
}

// Counted from the first delivery, not from start-up, so every kill lands while messages flow.
for (const [round, killAfterMs] of [[1, 10], [2, 50], [3, 150]] as const) {
  it(`loses no message when the consumer is SIGKILLed ${killAfterMs} ms after its first delivery (round ${round})`, async () => {
    const queue = `crash-${round}`;
    const tags = Array.from({ length: 2000 }, () => randomUUID());
    for (let i = 0; i < tags.length; i += 500) await fx.redis.lpush(queue, ...tags.slice(i, i + 500).map((t) => envelope(t, queue)));
    const log = join(logDir, `${queue}.log`);
    writeFileSync(log, '');
    const child = spawn(process.execPath, [childBundle.file, fx.db.url, queue, String(PREFETCH), log], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise((r) => child.once('close', r));
    const deadline = Date.now() + 20_000;
    while (!readFileSync(log, 'utf8').includes('D ') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, killAfterMs));
    child.kill('SIGKILL');
    await exited;
    const lines = readFileSync(log, 'utf8').split('\n').map((l) => l.split(' '));
    const tagged = (kind: string) => new Set(lines.filter((l) => l[0] === kind && l.length === 2).map((l) => l[1] as string));
    const [delivered, ackSent, acked] = [tagged('D'), tagged('a'), tagged('A')];
    const waiting = new Set((await fx.redis.lrange(queue, 0, -1)).map((raw) => JSON.parse(raw).properties.delivery_tag as string));
    const unacked = new Set(await fx.redis.hkeys('unacked'));
    const inRedis = (t: string) => waiting.has(t) || unacked.has(t);
    // Sent but not confirmed, and gone from Redis: that ack landed before the kill.
    const ackMayHaveLanded = new Set([...ackSent].filter((t) => !acked.has(t) && !inRedis(t)));
    const lost = tags.filter((t) => !acked.has(t) && !inRedis(t) && !ackMayHaveLanded.has(t));
    const heldAtKill = [...delivered].filter((t) => !acked.has(t) && unacked.has(t));
    expect(err).toBe('');
    // A loss names, per lost tag, whether the child saw it, and what else the db holds (a tag
    // dead-lettered or counted as dropped is not in the queue or unacked either).
    const where = lost.length === 0 ? {} : { delivered: lost.filter((t) => delivered.has(t)).length, keys: await describeDb(fx) };
    expect({ lost, where }).toEqual({ lost: [], where: {} });
    expect(ackMayHaveLanded.size).toBeLessThanOrEqual(PREFETCH);
    // The kill landed mid-stream: the child held delivered, unacked messages and left some waiting.
    expect({ held: heldAtKill.length > 0, waiting: waiting.size > 0 }).toEqual({ held: true, waiting: true });
    await fx.redis.del('unacked', 'unacked_index', queue);
  });
}
