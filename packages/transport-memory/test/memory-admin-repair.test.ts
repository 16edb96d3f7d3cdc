/**
 * The dashboard's operations on memory://: paging waiting messages without consuming them,
 * deleting, moving (route rewritten), purging, restoring one unacked message and acting on one
 * dead letter. The same operations run on Redis in test/dashboard.
 */
import { Buffer } from 'node:buffer';
import type { ConnectionParams, OutboundMessage } from '@kelp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryTransport, type MemoryTransport } from '../src/index.js';

const transports: MemoryTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
});

function params(): ConnectionParams {
  return {
    transport: 'memory',
    hostname: '',
    port: undefined,
    username: undefined,
    password: undefined,
    virtualHost: 'repair',
    socketPath: undefined,
    tls: undefined,
    transportOptions: {},
    alternates: [],
    redactedUrl: 'memory://repair',
  };
}

const msg = (body: string, priority = 0): OutboundMessage => ({
  body: new Uint8Array(Buffer.from(body)),
  contentType: 'text/plain',
  contentEncoding: 'utf-8',
  headers: {},
  properties: { priority },
});

async function setup() {
  const definition = createMemoryTransport();
  const transport = definition.create(params());
  transports.push(transport);
  const channel = await transport.createChannel();
  await channel.queueDeclare('work');
  for (const body of ['a', 'b', 'c']) await channel.basicPublish(msg(body), '', 'work');
  return { transport, channel, admin: transport.admin, broker: definition.broker('repair') };
}

const bodyOf = (raw: string) => Buffer.from((JSON.parse(raw) as { body: string }).body, 'base64').toString();

describe('memory admin repair', () => {
  it('pages a priority sub-list oldest or newest first without consuming it', async () => {
    const { admin, broker } = await setup();
    const oldest = await admin.messages('work', { order: 'oldest', limit: 2 });
    const newest = await admin.messages('work', { order: 'newest', offset: 1, limit: 5 });
    expect([oldest.total, oldest.items.map((m) => [m.position, bodyOf(m.raw)])]).toEqual([3, [[0, 'a'], [1, 'b']]]);
    expect(newest.items.map((m) => bodyOf(m.raw))).toEqual(['b', 'a']);
    expect(broker.size('work')).toBe(3);
  });

  it('deletes one waiting message by id', async () => {
    const { admin, broker } = await setup();
    const [, middle] = (await admin.messages('work')).items;
    expect(await admin.deleteMessage('work', middle?.id ?? '')).toEqual({ deleted: true });
    expect(broker.peek('work').map(bodyOf)).toEqual(['a', 'c']);
    expect(await admin.deleteMessage('work', middle?.id ?? '')).toEqual({ deleted: false });
  });

  it('deletes the newest message by id while a consumer drains the other end of a long queue', async () => {
    const { admin, channel, broker } = await setup();
    for (let n = 0; n < 3000; n++) await channel.basicPublish(msg(`m-${n}`), '', 'work');
    const [newest] = (await admin.messages('work', { order: 'newest', limit: 1 })).items;
    let deleting = true;
    // Takes from the consuming end between any two steps of the delete's scan.
    const consumer = (async () => {
      while (deleting) {
        for (let i = 0; i < 500; i++) broker.get('work', true);
        await Promise.resolve();
      }
    })();
    const result = await admin.deleteMessage('work', newest?.id ?? '');
    deleting = false;
    await consumer;
    expect([result, broker.peek('work').map(bodyOf).includes('m-2999')]).toEqual([{ deleted: true }, false]);
  });

  it('moves messages oldest first to the back of another queue with their route rewritten', async () => {
    const { admin, broker } = await setup();
    broker.put('parked', broker.peek('work')[0] as string, 0);
    expect(await admin.moveMessages('work', 'parked', { limit: 2 })).toEqual({ moved: 2 });
    expect(broker.peek('work').map(bodyOf)).toEqual(['c']);
    const parked = broker.peek('parked');
    expect(parked.map(bodyOf)).toEqual(['a', 'a', 'b']);
    expect((JSON.parse(parked[2] as string) as { properties: { delivery_info: unknown } }).properties.delivery_info).toEqual({ exchange: '', routing_key: 'parked' });
  });

  it('moves at most the length the queue had when the move started, while a producer keeps publishing', async () => {
    const { admin, channel, broker } = await setup();
    let moving = true;
    let published = 0;
    const move = admin.moveMessages('work', 'parked');
    // The producer starts once the first batch has moved, so the length at the start is 3.
    const producer = (async () => {
      while (moving && broker.size('parked') === 0) await Promise.resolve();
      while (moving && published < 5000) await channel.basicPublish(msg(`late-${published++}`), '', 'work');
    })();
    const result = await move;
    moving = false;
    await producer;
    expect(published).toBeGreaterThan(0);
    expect([result.moved, broker.peek('parked').map(bodyOf)]).toEqual([3, ['a', 'b', 'c']]);
    expect(broker.size('work')).toBe(published);
  });

  it('refuses an unknown option name of every repair method with a did-you-mean, changing nothing', async () => {
    const { admin, broker } = await setup();
    const calls: [string, () => Promise<unknown>][] = [
      ['offset', () => admin.messages('work', { offest: 1 } as never)],
      ['queue', () => admin.unacked({ queu: 'work' } as never)],
      ['scanLimit', () => admin.deleteMessage('work', 'x', { scanlimit: 5 } as never)],
      ['limit', () => admin.moveMessages('work', 'parked', { limt: 1 } as never)],
      ['signal', () => admin.purge('work', { signl: undefined } as never)],
      ['signal', () => admin.restoreMessage('tag', { sigal: undefined } as never)],
      ['signal', () => admin.requeueDeadLetter('work', 'x', { signa: undefined } as never)],
      ['signal', () => admin.deleteDeadLetter('work', 'x', { sinal: undefined } as never)],
    ];
    for (const [suggested, call] of calls) await expect(call()).rejects.toThrow(new RegExp(`Unknown option .*did you mean \`${suggested}\``));
    expect([broker.size('work'), broker.size('parked')]).toEqual([3, 0]);
  });

  it('leaves a message where it was when the target queue refuses it', async () => {
    const { admin, channel, broker } = await setup();
    await channel.queueDeclare('full', { arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    await expect(admin.moveMessages('work', 'full')).rejects.toThrow();
    expect([broker.size('work'), broker.size('full')]).toEqual([3, 0]);
  });

  it('purges a queue and says how many went', async () => {
    const { admin, broker } = await setup();
    expect(await admin.purge('work')).toEqual({ purged: 3 });
    expect(broker.size('work')).toBe(0);
  });

  it('lists unacked messages and restores one by tag, whatever its age', async () => {
    const { admin, channel, broker } = await setup();
    const delivery = await channel.basicGet('work');
    const page = await admin.unacked({ queue: 'work' });
    expect(page.items.map((m) => [m.tag, m.queues, bodyOf(m.raw)])).toEqual([[delivery?.deliveryTag, ['work'], 'a']]);
    expect(await admin.restoreMessage(delivery?.deliveryTag ?? '')).toEqual({ restored: true, queues: ['work'], deadLettered: false });
    expect([broker.unackedCount, broker.peek('work').map(bodyOf)]).toEqual([0, ['a', 'b', 'c']]);
    expect((await admin.restoreMessage(delivery?.deliveryTag ?? '')).restored).toBe(false);
  });

  it('requeues one valid dead letter by id and deletes another', async () => {
    const { admin, broker } = await setup();
    const valid = broker.peek('work')[0] as string;
    broker.deadLetter('work', valid, 'rejected');
    broker.deadLetter('work', 'garbage', 'not JSON');
    const [good, bad] = await admin.deadLetters('work');
    expect(await admin.requeueDeadLetter('work', bad?.id ?? '')).toMatchObject({ requeued: false });
    expect(await admin.requeueDeadLetter('work', good?.id ?? '')).toEqual({ requeued: true });
    expect(await admin.deleteDeadLetter('work', bad?.id ?? '')).toEqual({ deleted: true });
    expect([broker.deadLettered('work').length, broker.size('work')]).toEqual([0, 4]);
  });
});
