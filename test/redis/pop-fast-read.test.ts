/**
 * The pop script's fast reading of envelopes (pop-and-record-n.lua, `read_fast`): with record on,
 * it cuts delivery_tag, exchange and routing key out of the text instead of validating UTF-8 and
 * decoding the JSON, and the client finishes the checks it skipped. Whatever path a payload
 * takes, the record must be the one cjson would have written, and a bad payload must end in the
 * dead-letter list with no unacked record left behind.
 */
import type { Delivery } from '@kelp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineScripts, popAndRecord } from '../../packages/transport-redis/src/scripts.js';
import { SEP, collect, redisFixture, runFor, type RedisFixture } from './helpers.js';

let fx: RedisFixture;
beforeAll(async () => {
  fx = await redisFixture();
  defineScripts(fx.redis);
});
afterAll(() => fx.close());

const kelpEnvelope = (tag: string, headers: Record<string, unknown> = {}, info: Record<string, unknown> = { exchange: 'ex', routing_key: 'rk' }) =>
  JSON.stringify({
    body: Buffer.from('{"n": 1}').toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers,
    properties: { delivery_mode: 2, delivery_info: info, priority: 0, body_encoding: 'base64', delivery_tag: tag },
  });

// What Python Kombu 5.2.4 writes (json.dumps separators ", " and ": "), from the spec's capture.
const kombuEnvelope = (tag: string) =>
  `{"body": "eyJoZWxsbyI6ICJ3b3JsZCIsICJuIjogMX0=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"x-custom": "h1"}, "properties": {"correlation_id": "corr-1", "reply_to": "replyq", "delivery_mode": 2, "expiration": "30000", "delivery_info": {"exchange": "myex", "routing_key": "myrk"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "${tag}"}}`;

const pop = (queue: string, record = true, limit = 10) =>
  popAndRecord(fx.redis, { unacked: 'unacked', unackedIndex: 'unacked_index', expiredDropped: 'dropped-expired', queues: [[queue, `${queue}${SEP}dead`]] }, { now: 7, limit, record });

describe('pop-and-record reads the delivery fields as cjson would', () => {
  const cases: [string, string, string, string, string][] = [
    ['kelp layout', kelpEnvelope('k-1'), 'k-1', 'ex', 'rk'],
    ['Kombu layout', kombuEnvelope('p-1'), 'p-1', 'myex', 'myrk'],
    ['a restored message', kelpEnvelope('r-1', { redelivered: true }, { exchange: 'ex', routing_key: 'rk', redelivered: true }), 'r-1', 'ex', 'rk'],
    ['a header named delivery_tag', kelpEnvelope('t-1', { delivery_tag: 'from-header', 'x_tag"': 1 }), 't-1', 'ex', 'rk'],
    ['escapes in the routing key', kelpEnvelope('e-1', {}, { exchange: 'ex', routing_key: 'a"b\\c' }), 'e-1', 'ex', 'a"b\\c'],
    ['null exchange, key order swapped', kelpEnvelope('n-1', {}, { routing_key: 'rk', exchange: null }), 'n-1', '', 'rk'],
  ];
  it.each(cases)('%s', async (_name, payload, tag, exchange, routingKey) => {
    const queue = `fr-${tag}`;
    await fx.redis.lpush(queue, payload);
    expect(await pop(queue)).toEqual([{ kind: 'message', key: queue, payload, deliveryTag: tag }]);
    expect(JSON.parse((await fx.redis.hget('unacked', tag)) as string)).toEqual([JSON.parse(payload), exchange, routingKey]);
    expect(await fx.redis.zscore('unacked_index', tag)).toBe('7');
  });

  it('leaves whole-payload checks to the client only when it records (the client then sees the record)', async () => {
    const broken = `${kelpEnvelope('b-1')}}`;
    await fx.redis.lpush('fr-broken', broken, broken);
    expect((await pop('fr-broken', false, 1))[0]).toMatchObject({ kind: 'dead', reason: 'payload is not a JSON object' });
    expect((await pop('fr-broken', true, 1))[0]).toMatchObject({ kind: 'message', deliveryTag: 'b-1' });
  });
});

describe('a consumer finishes the checks the fast reading skipped', () => {
  it('dead-letters what is not JSON, not UTF-8 or recorded under another tag, and delivers the rest', async () => {
    const { channel, hub } = await fx.newTransport();
    const queue = 'fr-consume';
    const good = kelpEnvelope('ok-1', { note: 'keeps a real U+FFFD: \ufffd' });
    const notJson = `${kelpEnvelope('bad-json')}}`;
    // The only "delivery_tag" key is a header's, before delivery_info: the script reads it in full,
    // finds no properties.delivery_tag and dead-letters it without a record.
    const tagInHeaders = kelpEnvelope('x').replace('"delivery_tag":"x"', '"correlation_id":"x"').replace('"headers":{}', '"headers":{"delivery_tag":"bad-tag"}');
    // properties.delivery_tag spelled with a JSON escape, and the script's only token inside an
    // object of properties after delivery_info: the script records under that one's value.
    const escapedKey = kelpEnvelope('real-tag').replace('"delivery_tag"', '"delivery\\u005ftag"').replace('"priority":', '"x":{"delivery_tag":"other-tag"},"priority":');
    const plain = kelpEnvelope('bad-utf8', { note: 'caf\u00e9' });
    const at = Buffer.from(plain).indexOf(Buffer.from('caf\u00e9'));
    const notUtf8 = Buffer.concat([Buffer.from(plain).subarray(0, at), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff]), Buffer.from(plain).subarray(at + 5)]);
    await fx.redis.rpush(queue, notJson, tagInHeaders, escapedKey, notUtf8, good);

    const got: Delivery[] = [];
    await channel.basicQos(10);
    await channel.basicConsume(queue, { onDelivery: (d) => got.push(d) });
    await collect(hub, got, 1, 3000);
    await runFor(hub, 200);

    expect(got.map((d) => d.deliveryTag)).toEqual(['ok-1']);
    expect(got[0]?.headers['note']).toBe('keeps a real U+FFFD: \ufffd');
    const dead = (await fx.redis.lrange(`${queue}${SEP}dead`, 0, -1)).map((r) => JSON.parse(r) as { reason: string; deliveryTag?: string });
    expect(dead.map((r) => [r.deliveryTag ?? '-', r.reason.split(':')[0]]).sort()).toEqual([
      ['-', 'properties.delivery_tag missing'],
      ['bad-json', 'envelope is not JSON'],
      ['bad-utf8', 'payload is not valid UTF-8'],
      ['other-tag', 'properties.delivery_tag is not the tag the message was recorded under (other-tag)'],
    ]);
    expect((await fx.redis.hkeys('unacked')).filter((t) => /^(bad|ok-1|other-tag|real-tag)/.test(t))).toEqual(['ok-1']);
    expect(await fx.redis.zrange('unacked_index', 0, -1)).not.toContain('bad-utf8');
  });
});
