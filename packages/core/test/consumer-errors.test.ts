import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChannelError,
  Connection,
  Consumer,
  ContentDisallowedError,
  DecodeError,
  Message,
  Queue,
  dumps,
  type Delivery,
} from '../src/index.js';
import { DeadLetterChannel, FakeChannel, makeDelivery } from './helpers/fake-channel.js';
import { fakeSetup, type FakeChannel as TransportChannel } from './helpers/fake-transport.js';

const packed = dumps({ a: 1 }, 'msgpack');
const msgpackDelivery = (deliveryTag: string): Delivery =>
  makeDelivery({ deliveryTag, body: packed.body, contentType: packed.contentType, contentEncoding: packed.contentEncoding });
const brokenJson = (deliveryTag: string): Delivery => makeDelivery({ deliveryTag, body: new TextEncoder().encode('{nope') });
const brokenGzip = (deliveryTag: string): Delivery =>
  makeDelivery({ deliveryTag, headers: { compression: 'application/x-gzip' }, body: new Uint8Array([1, 2, 3, 4]) });

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('Consumer decode failures without onDecodeError', () => {
  it('dead-letters a disallowed content type with its reason and reports it to onError', async () => {
    const channel = new DeadLetterChannel();
    const reports: Array<[string, string | undefined, string | undefined]> = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      accept: ['json'],
      callbacks: [() => {}],
      onError: (error, message) => void reports.push([(error as Error).name, message?.deliveryTag, message?.state]),
    });
    await consumer.consume();
    channel.deliver('q', msgpackDelivery('dl-1'));
    await consumer.whenIdle();
    expect(channel.deadLettered).toHaveLength(1);
    expect(channel.deadLettered[0]?.tag).toBe('dl-1');
    expect(channel.deadLettered[0]?.reason).toMatch(/^ContentDisallowedError: .*msgpack/);
    expect(reports).toEqual([['ContentDisallowedError', 'dl-1', 'REJECTED']]);
    expect(channel.acks).toEqual([]);
  });

  it('dead-letters a body its serializer cannot decode with a DecodeError reason', async () => {
    const channel = new DeadLetterChannel();
    const errors: unknown[] = [];
    const consumer = new Consumer(channel, new Queue('q'), { callbacks: [() => {}] });
    consumer.on('error', (error) => void errors.push(error));
    await consumer.consume();
    channel.deliver('q', brokenJson('dl-2'));
    await consumer.whenIdle();
    expect(channel.deadLettered.map((d) => d.tag)).toEqual(['dl-2']);
    expect(channel.deadLettered[0]?.reason).toMatch(/^DecodeError: /);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(DecodeError);
  });

  it('dead-letters a body whose compression is broken, even for an onMessage consumer', async () => {
    const channel = new DeadLetterChannel();
    const seen: string[] = [];
    const consumer = new Consumer(channel, new Queue('q'), { onMessage: (m) => void seen.push(m.deliveryTag) });
    await consumer.consume();
    channel.deliver('q', brokenGzip('dl-3'));
    await consumer.whenIdle();
    expect(channel.deadLettered.map((d) => d.tag)).toEqual(['dl-3']);
    expect(seen).toEqual([]);
    expect(consumer.lastError).toBeInstanceOf(Error);
  });

  it('dead-letters a message whose decode fails inside an onMessage handler that lets the error escape', async () => {
    const channel = new DeadLetterChannel();
    const consumer = new Consumer(channel, new Queue('q'), {
      accept: ['json'],
      onMessage: async (message) => {
        await Promise.resolve();
        message.decode();
      },
    });
    await consumer.consume();
    channel.deliver('q', msgpackDelivery('om-1'));
    await consumer.whenIdle();
    expect(channel.deadLettered.map((d) => d.tag)).toEqual(['om-1']);
    expect(consumer.lastError).toBeInstanceOf(ContentDisallowedError);
  });

  it('treats any other onMessage error as a handler error and leaves the message unacked', async () => {
    const channel = new DeadLetterChannel();
    const consumer = new Consumer(channel, new Queue('q'), {
      onMessage: () => {
        throw new DecodeError('not from this message');
      },
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'om-2' }));
    await consumer.whenIdle();
    expect(channel.deadLettered).toEqual([]);
    expect((consumer.lastError as Error).message).toBe('not from this message');
  });

  it('leaves the message unacked when the channel has no dead-letter list', async () => {
    const channel = new FakeChannel();
    const tags: Array<string | undefined> = [];
    const consumer = new Consumer(channel, new Queue('q'), { accept: ['json'], callbacks: [() => {}] });
    consumer.on('error', (_error, message) => void tags.push(message?.state));
    await consumer.consume();
    channel.deliver('q', msgpackDelivery('ua-1'));
    expect(tags).toEqual(['RECEIVED']);
    expect(channel.acks).toEqual([]);
    expect(channel.rejects).toEqual([]);
  });

  it('does not dead-letter a no-ack delivery (the broker forgot it) but still reports it', async () => {
    const channel = new DeadLetterChannel();
    const consumer = new Consumer(channel, new Queue('q'), { noAck: true, accept: ['json'], callbacks: [() => {}] });
    await consumer.consume();
    channel.deliver('q', msgpackDelivery('na-1'));
    await consumer.whenIdle();
    expect(channel.deadLettered).toEqual([]);
    expect(consumer.lastError).toBeInstanceOf(ContentDisallowedError);
  });

  it('leaves the message to onDecodeError when one is given, without dead-lettering it', async () => {
    const channel = new DeadLetterChannel();
    const handled: string[] = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      accept: ['json'],
      onDecodeError: (message) => void handled.push(message.deliveryTag),
    });
    await consumer.consume();
    channel.deliver('q', msgpackDelivery('od-1'));
    expect(handled).toEqual(['od-1']);
    expect(channel.deadLettered).toEqual([]);
    expect(consumer.lastError).toBeUndefined();
  });

  it('records an unhandled decode error in lastError and never raises an unhandled rejection', async () => {
    const channel = new DeadLetterChannel();
    const bodies: unknown[] = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      accept: ['json'],
      callbacks: [(body) => void bodies.push(body)],
    });
    await consumer.consume();
    channel.deliver('q', msgpackDelivery('lr-1'));
    channel.deliver('q', makeDelivery({ deliveryTag: 'lr-2', json: { ok: 2 } }));
    await consumer.whenIdle();
    await settle();
    expect(consumer.lastError).toBeInstanceOf(ContentDisallowedError);
    expect(channel.deadLettered.map((d) => d.tag)).toEqual(['lr-1']);
    expect(bodies).toEqual([{ ok: 2 }]);
    expect(unhandled).toEqual([]);
  });
});

describe('Consumer callback errors without a handler', () => {
  it('keeps a message whose sync callback throws unacked and records the error', async () => {
    const channel = new DeadLetterChannel();
    const consumer = new Consumer(channel, new Queue('q'), {
      callbacks: [
        () => {
          throw new Error('sync boom');
        },
      ],
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'cb-1' }));
    await settle();
    expect((consumer.lastError as Error).message).toBe('sync boom');
    expect(channel.acks).toEqual([]);
    expect(channel.rejects).toEqual([]);
    expect(channel.deadLettered).toEqual([]);
    expect(unhandled).toEqual([]);
  });

  it('keeps a message whose async callback rejects unacked and goes on with the next one', async () => {
    const channel = new FakeChannel();
    const done: string[] = [];
    const consumer = new Consumer(channel, new Queue('q'), {
      onMessage: async (message) => {
        if (message.deliveryTag === 'ab-1') throw new Error('async boom');
        await message.ack();
        done.push(message.deliveryTag);
      },
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'ab-1' }));
    channel.deliver('q', makeDelivery({ deliveryTag: 'ab-2' }));
    await consumer.whenIdle();
    await settle();
    expect((consumer.lastError as Error).message).toBe('async boom');
    expect(channel.acks).toEqual(['ab-2']);
    expect(done).toEqual(['ab-2']);
    expect(unhandled).toEqual([]);
  });
});

describe('Consumer errors reach the connection', () => {
  async function connectionConsumer(onChannel: boolean): Promise<{ conn: Connection; deliver: (d: Delivery) => void; consumer: Consumer }> {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const source = onChannel ? await conn.channel() : conn;
    const consumer = new Consumer(source, new Queue('q'), { accept: ['json'], callbacks: [() => {}] });
    await consumer.consume();
    const channel = broker.transports[0]?.channels[0] as TransportChannel;
    const deliver = (delivery: Delivery): void => {
      for (const onDelivery of channel.consumers.values()) onDelivery(delivery);
    };
    return { conn, deliver, consumer };
  }

  it("emits a decode error on the connection's 'error' event for a consumer built on the connection", async () => {
    const { conn, deliver, consumer } = await connectionConsumer(false);
    const heard: unknown[] = [];
    conn.on('error', (error) => void heard.push(error));
    deliver(msgpackDelivery('ce-1'));
    expect(heard).toHaveLength(1);
    expect(heard[0]).toBeInstanceOf(ContentDisallowedError);
    expect(consumer.lastError).toBe(heard[0]);
    await conn.close({ timeout: 0 });
  });

  it("emits a callback error on the 'error' event of the connection that opened the consumer's channel", async () => {
    const { conn, deliver } = await connectionConsumer(true);
    const heard: string[] = [];
    conn.on('error', (error) => void heard.push(error.message));
    deliver(makeDelivery({ deliveryTag: 'ce-2', contentType: 'application/json', body: new TextEncoder().encode('{bad') }));
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatch(/Could not decode a body of type json/);
    await conn.close({ timeout: 0 });
  });

  it('gives the connection the error of an onError handler that throws', async () => {
    const { broker, registry } = fakeSetup();
    const conn = new Connection('fake://h:1/', { registry });
    const heard: string[] = [];
    conn.on('error', (error) => void heard.push(error.message));
    const consumer = conn.Consumer(new Queue('q'), {
      callbacks: [
        () => {
          throw new Error('callback failed');
        },
      ],
      onError: () => {
        throw new Error('handler failed');
      },
    });
    await consumer.consume();
    const channel = broker.transports[0]?.channels[0] as TransportChannel;
    for (const onDelivery of channel.consumers.values()) onDelivery(makeDelivery({ deliveryTag: 'he-1' }));
    expect(heard).toEqual(['handler failed']);
    await conn.close({ timeout: 0 });
  });

  it('records the error without emitting when the connection has no error listener', async () => {
    const { conn, deliver, consumer } = await connectionConsumer(false);
    deliver(msgpackDelivery('ce-3'));
    await settle();
    expect(consumer.lastError).toBeInstanceOf(ContentDisallowedError);
    expect(unhandled).toEqual([]);
    await conn.close({ timeout: 0 });
  });
});

describe('Message.deadLetter', () => {
  it('refuses on a channel without a dead-letter list and leaves the message RECEIVED', async () => {
    const message = new Message(makeDelivery({ deliveryTag: 'md-1' }), new FakeChannel());
    await expect(message.deadLetter('why')).rejects.toBeInstanceOf(ChannelError);
    expect(message.state).toBe('RECEIVED');
  });

  it('settles the message as REJECTED and passes tag and reason to the channel', async () => {
    const channel = new DeadLetterChannel();
    const message = new Message(makeDelivery({ deliveryTag: 'md-2' }), channel);
    await message.deadLetter('bad body');
    expect(channel.deadLettered).toEqual([{ tag: 'md-2', reason: 'bad body' }]);
    expect(message.state).toBe('REJECTED');
    await expect(message.ack()).rejects.toThrowError(/already acknowledged/);
  });
});
