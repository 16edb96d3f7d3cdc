import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ChannelError,
  ConfigurationError,
  ContentDisallowedError,
  createSerializerRegistry,
  DecodeError,
  Message,
  MessageStateError,
} from '../src/index.js';
import { FakeChannel, makeDelivery, VisibilityChannel } from './helpers/fake-channel.js';

describe('Message', () => {
  it('starts RECEIVED and acks to ACK through the channel with its delivery tag', async () => {
    const channel = new FakeChannel();
    const message = new Message(makeDelivery({ deliveryTag: 't-1' }), channel);
    expect(message.state).toBe('RECEIVED');
    expect(message.acknowledged).toBe(false);
    await message.ack();
    expect(message.state).toBe('ACK');
    expect(message.acknowledged).toBe(true);
    expect(channel.acks).toEqual(['t-1']);
  });

  it('refuses a second ack with the state it is in', async () => {
    const channel = new FakeChannel();
    const message = new Message(makeDelivery(), channel);
    await message.ack();
    await expect(message.ack()).rejects.toThrowError(new MessageStateError('Message already acknowledged with state: ACK'));
    expect(channel.acks).toHaveLength(1);
  });

  it('catches a double ack issued before the first resolved', async () => {
    const channel = new FakeChannel();
    const message = new Message(makeDelivery(), channel);
    const first = message.ack();
    await expect(message.reject()).rejects.toBeInstanceOf(MessageStateError);
    await first;
    expect(channel.acks).toHaveLength(1);
    expect(channel.rejects).toHaveLength(0);
  });

  it('rejects without requeue to REJECTED', async () => {
    const channel = new FakeChannel();
    const message = new Message(makeDelivery({ deliveryTag: 'r-1' }), channel);
    await message.reject();
    expect(message.state).toBe('REJECTED');
    expect(channel.rejects).toEqual([{ tag: 'r-1', requeue: false }]);
  });

  it('requeues to REQUEUED and then refuses an ack naming REQUEUED', async () => {
    const channel = new FakeChannel();
    const message = new Message(makeDelivery({ deliveryTag: 'q-1' }), channel);
    await message.requeue();
    expect(channel.rejects).toEqual([{ tag: 'q-1', requeue: true }]);
    await expect(message.ack()).rejects.toThrowError('Message already acknowledged with state: REQUEUED');
  });

  it('goes back to RECEIVED when the channel fails the ack, so it can be retried', async () => {
    const channel = new FakeChannel();
    channel.failNext = new Error('connection lost');
    const message = new Message(makeDelivery({ deliveryTag: 'f-1' }), channel);
    await expect(message.ack()).rejects.toThrowError('connection lost');
    expect(message.state).toBe('RECEIVED');
    await message.ack();
    expect(channel.acks).toEqual(['f-1']);
  });

  it('treats ack of a no-ack delivery as a no-op', async () => {
    const channel = new FakeChannel();
    const message = new Message(makeDelivery({ noAck: true }), channel);
    await message.ack();
    expect(channel.acks).toEqual([]);
    expect(message.state).toBe('RECEIVED');
  });

  it('refuses to act without a receiving channel', async () => {
    const message = new Message(makeDelivery(), undefined);
    await expect(message.ack()).rejects.toThrowError('This message does not have a receiving channel');
  });

  it('decodes once and caches the value', () => {
    let calls = 0;
    const registry = createSerializerRegistry();
    registry.register('counting', {
      contentType: 'application/x-counting',
      contentEncoding: 'utf-8',
      encode: () => new Uint8Array(),
      decode: () => ({ call: ++calls }),
    });
    const message = new Message(makeDelivery({ contentType: 'application/x-counting' }), undefined, { serializers: registry });
    expect(message.decode()).toEqual({ call: 1 });
    expect(message.payload).toEqual({ call: 1 });
    expect(calls).toBe(1);
  });

  it('honours the accept list it was given', () => {
    const message = new Message(makeDelivery(), undefined, { accept: ['msgpack'] });
    expect(() => message.decode()).toThrowError(ContentDisallowedError);
  });

  it('decompresses the body while it is built', () => {
    const body = new Uint8Array(deflateSync(Buffer.from('{"z": 26}')));
    const message = new Message(makeDelivery({ body, headers: { compression: 'application/x-gzip' } }), undefined);
    expect(Buffer.from(message.body).toString()).toBe('{"z": 26}');
    expect(message.decode()).toEqual({ z: 26 });
  });

  it('keeps a decompression error and throws it from decode', () => {
    const message = new Message(
      makeDelivery({ body: new Uint8Array([1, 2, 3]), headers: { compression: 'application/x-gzip' } }),
      undefined,
    );
    expect(message.errors).toHaveLength(1);
    expect(() => message.decode()).toThrowError(DecodeError);
  });

  it('extends visibility through a channel that supports it', async () => {
    const channel = new VisibilityChannel();
    const message = new Message(makeDelivery({ deliveryTag: 'v-1' }), channel);
    await message.extendVisibility(120);
    expect(channel.extended).toEqual([{ tag: 'v-1', seconds: 120 }]);
  });

  it('says the transport has no visibility timeout when the channel cannot extend', async () => {
    const message = new Message(makeDelivery(), new FakeChannel());
    await expect(message.extendVisibility(10)).rejects.toThrowError(ChannelError);
    await expect(message.extendVisibility(10)).rejects.toThrowError(/has no visibility timeout/);
  });

  it('refuses a non-positive visibility extension naming the option', async () => {
    const message = new Message(makeDelivery(), new VisibilityChannel());
    await expect(message.extendVisibility(0)).rejects.toMatchObject({ option: 'seconds' });
    await expect(message.extendVisibility(-1)).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('exposes the delivery fields', () => {
    const message = new Message(
      makeDelivery({
        deliveryTag: 'x-1',
        headers: { h: 1 },
        properties: { correlationId: 'c' },
        deliveryInfo: { exchange: 'ex', routingKey: 'rk', redelivered: true },
      }),
      undefined,
    );
    expect(message.deliveryTag).toBe('x-1');
    expect(message.headers).toEqual({ h: 1 });
    expect(message.properties.correlationId).toBe('c');
    expect(message.deliveryInfo.exchange).toBe('ex');
    expect(message.redelivered).toBe(true);
    expect(message.contentType).toBe('application/json');
    expect(message.contentEncoding).toBe('utf-8');
  });
});
