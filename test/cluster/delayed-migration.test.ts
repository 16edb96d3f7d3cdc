/**
 * Delayed delivery while the prefix's slot is MIGRATING (rediscluster:// single-slot mode): the
 * source node refuses a script's command on a key it does not hold ("non local key"), and Redis
 * keeps what the script wrote before. The mover and the delayed publish probe every key a message
 * needs before their first write for it, so a refusal moves or stores nothing, loses nothing.
 */
import { parseUrl, type OutboundMessage } from '@kelp/core';
import { Hub } from '@kelp/hub';
import { RedisTransport, type RedisChannel } from '@kelp/transport-redis';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';

const PREFIX = '{dl-migrate}:';

let topology: ClusterTopology;
let transport: RedisTransport;
let hub: Hub;
let channel: RedisChannel;
let source: Redis;
let target: Redis;
let slot: number;
let ids: { source: string; target: string };

beforeAll(async () => {
  topology = await startClusterTopology({ masters: 2 });
  transport = new RedisTransport(parseUrl(topology.url(), { transportOptions: { globalKeyprefix: PREFIX } }));
  await transport.connect();
  hub = new Hub();
  transport.registerWithEventLoop(hub);
  channel = (await transport.createChannel()) as RedisChannel;
  slot = await topology.slotOf(`${PREFIX}x`);
  const owner = await topology.ownerOf(slot);
  const other = (await topology.masters()).find((port) => port !== owner.master);
  if (other === undefined) throw new Error('the cluster has one master');
  source = topology.nodeClient(owner.master);
  target = topology.nodeClient(other);
  ids = { source: String(await source.cluster('MYID')), target: String(await target.cluster('MYID')) };
}, 60_000);

afterAll(async () => {
  await transport?.close();
  hub?.close();
  source?.disconnect();
  target?.disconnect();
  await topology?.stop();
});

/** Marks the slot MIGRATING on its owner (and IMPORTING on the other master), as a reshard does before it moves keys. */
async function migrating(): Promise<void> {
  await target.cluster('SETSLOT', slot, 'IMPORTING', ids.source);
  await source.cluster('SETSLOT', slot, 'MIGRATING', ids.target);
}

async function stable(): Promise<void> {
  await source.cluster('SETSLOT', slot, 'STABLE');
  await target.cluster('SETSLOT', slot, 'STABLE');
}

const outbound = (id: string): OutboundMessage => ({
  body: new TextEncoder().encode(JSON.stringify(id)),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: {},
  properties: { messageId: id },
});
const envelope = (id: string) => JSON.stringify({ body: id, properties: { message_id: id, delivery_tag: id } });

describe('delayed delivery during a slot migration', () => {
  it('a mover call refused on a key the source lacks removes nothing from the delayed set', async () => {
    const delayed = channel.delayedDelivery;
    if (!delayed) throw new Error('the Redis channel has no delayed delivery');
    const now = Date.now();
    await delayed.putDelayed(['mq'], envelope('m1'), 0, now - 10);
    // The queue's list does not exist yet: the move's push is on a key the source node lacks.
    expect(await source.exists(`${PREFIX}mq`)).toBe(0);
    await migrating();
    let refusal: unknown;
    try {
      refusal = await delayed.moveDue(now + 1000, 100).catch((error: unknown) => error);
    } finally {
      await stable();
    }
    // Refused before its first write: the message is still delayed, nowhere else.
    expect(String(refusal)).toMatch(/non local key/);
    expect(await source.zcard(`${PREFIX}_kelp.delayed.mq`)).toBe(1);
    expect(await source.llen(`${PREFIX}mq`)).toBe(0);
    expect(await source.llen(`${PREFIX}mq\x06\x16dead`)).toBe(0);
    expect((await delayed.moveDue(now + 1000, 100)).moved).toBe(1);
    expect(await source.zcard(`${PREFIX}_kelp.delayed.mq`)).toBe(0);
    const moved = (await source.lrange(`${PREFIX}mq`, 0, -1)).map((e) => JSON.parse(e).properties.message_id);
    expect(moved).toEqual(['m1']);
  }, 30_000);

  it('a delayed publish whose queue has no argument hash on the source is refused whole: nothing stored', async () => {
    const delayed = channel.delayedDelivery;
    if (!delayed) throw new Error('the Redis channel has no delayed delivery');
    const due = Date.now() + 60_000;
    await delayed.putDelayed(['pa', 'pb'], envelope('p1'), 0, due);
    // The delayed sets and the index exist; the queues' argument hashes do not (no arguments).
    expect(await source.exists(`${PREFIX}_kelp.queue.pa`, `${PREFIX}_kelp.queue.pb`)).toBe(0);
    await migrating();
    let refusal: unknown;
    try {
      refusal = await delayed.putDelayed(['pa', 'pb'], envelope('p2'), 0, due).catch((error: unknown) => error);
    } finally {
      await stable();
    }
    expect(refusal).toBeInstanceOf(Error);
    // A refusal after queue pa was written would leave p2 there although the publish failed.
    expect(await source.zrange(`${PREFIX}_kelp.delayed.pa`, 0, -1)).toEqual([`0|${envelope('p1')}`]);
    expect(await source.zrange(`${PREFIX}_kelp.delayed.pb`, 0, -1)).toEqual([`0|${envelope('p1')}`]);
    await delayed.putDelayed(['pa', 'pb'], envelope('p2'), 0, due);
    expect(await source.zcard(`${PREFIX}_kelp.delayed.pa`)).toBe(2);
    expect(await source.zcard(`${PREFIX}_kelp.delayed.pb`)).toBe(2);
  }, 30_000);

  it('a publish routed to two queues with arguments, one list missing on the source, stores nothing', async () => {
    const ttl = { 'x-message-ttl': 60_000 };
    await channel.exchangeDeclare('rx', { type: 'direct' });
    for (const queue of ['ra', 'rb']) {
      await channel.queueDeclare(queue, { arguments: ttl });
      await channel.queueBind(queue, 'rx', 'r');
    }
    await channel.basicPublish(outbound('r1'), '', 'ra');
    expect(await source.exists(`${PREFIX}rb`)).toBe(0);
    await migrating();
    let refusal: unknown;
    try {
      refusal = await channel.basicPublish(outbound('r2'), 'rx', 'r').catch((error: unknown) => error);
    } finally {
      await stable();
    }
    expect(refusal).toBeInstanceOf(Error);
    // Rejected, so nothing may be stored: a push to ra before the refusal on rb would be a duplicate on retry.
    const ids = async (queue: string) => (await source.lrange(`${PREFIX}${queue}`, 0, -1)).map((e) => JSON.parse(e).properties.message_id);
    expect(await ids('ra')).toEqual(['r1']);
    expect(await ids('rb')).toEqual([]);
    await channel.basicPublish(outbound('r2'), 'rx', 'r');
    expect(await ids('ra')).toEqual(['r2', 'r1']);
    expect(await ids('rb')).toEqual(['r2']);
  }, 30_000);
});
