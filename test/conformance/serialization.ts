/**
 * Serializers end to end (docs/wire-format.md#serializers-and-compression): json, msgpack, text,
 * binary/raw, a custom serializer, pre-serialized bodies, and the `accept` rules (every registered
 * serializer decoded unless
 * `accept` narrows the set).
 */
import { describe, expect, it } from 'vitest';
import { ContentDisallowedError, registerSerializer, unregisterSerializer, type Message } from 'kelp';
import { caught, declareQueue, publish, type SuiteContext } from './context.js';

const utf8 = new TextEncoder();
const fromUtf8 = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

export function serializationTests(ctx: SuiteContext): void {
  /** Publishes `body` with `options` to a fresh queue and takes it back with `get`. */
  async function roundTrip(
    body: unknown,
    options: Record<string, unknown>,
    accept?: string[],
  ): Promise<Message> {
    const conn = await ctx.connection();
    const queue = await declareQueue(conn, ctx.name('sq'));
    await publish(conn, body, { exchange: '', routingKey: queue.name, ...options });
    const message = await queue.get(accept ? { noAck: true, accept } : { noAck: true });
    if (!message) throw new Error('the published message did not arrive');
    return message;
  }

  describe('serialization', () => {
    it('round-trips a nested object with json, the default serializer', async () => {
      const body = { a: 1, b: [true, null, 'x'], c: { d: 2.5 } };
      const message = await roundTrip(body, {});
      expect(message.contentType).toBe('application/json');
      expect(message.contentEncoding).toBe('utf-8');
      expect(message.payload).toEqual(body);
      expect(JSON.parse(fromUtf8(message.body))).toEqual(body);
    });

    it('round-trips non-ASCII text exactly with json', async () => {
      const body = { text: 'héllo 日本 🐟 \u0000 "quoted"' };
      const message = await roundTrip(body, { serializer: 'json' });
      expect(message.payload).toEqual(body);
    });

    it('round-trips a 1 MiB body intact', async () => {
      const big = { data: 'x'.repeat(1024 * 1024), tail: 'end' };
      const message = await roundTrip(big, {});
      expect(message.body.byteLength).toBeGreaterThan(1024 * 1024);
      expect(message.payload).toEqual(big);
    });

    it('round-trips msgpack when the consumer accepts it', async () => {
      const body = { a: 1, list: [1, 2, 3], s: 'x' };
      const message = await roundTrip(body, { serializer: 'msgpack' }, ['json', 'msgpack']);
      expect(message.contentType).toBe('application/x-msgpack');
      expect(message.contentEncoding).toBe('binary');
      expect(message.payload).toEqual(body);
    });

    it('accepts msgpack named by its MIME type in accept', async () => {
      const message = await roundTrip({ mime: true }, { serializer: 'msgpack' }, ['application/x-msgpack']);
      expect(message.payload).toEqual({ mime: true });
    });

    it('refuses msgpack with ContentDisallowedError when accept lists only json', async () => {
      const message = await roundTrip({ a: 1 }, { serializer: 'msgpack' }, ['json']);
      const error = await caught(() => message.decode());
      expect(error).toBeInstanceOf(ContentDisallowedError);
      expect((error as ContentDisallowedError).contentType).toBe('application/x-msgpack');
    });

    it('decodes msgpack when no accept list is given (kelp has no unsafe serializer to disable)', async () => {
      const message = await roundTrip({ a: 1, list: [2, 3] }, { serializer: 'msgpack' });
      expect(message.contentType).toBe('application/x-msgpack');
      expect(message.payload).toEqual({ a: 1, list: [2, 3] });
    });

    it('round-trips a string with the text serializer as text/plain', async () => {
      const message = await roundTrip('plain words ü', { serializer: 'text' });
      expect(message.contentType).toBe('text/plain');
      expect(message.payload).toBe('plain words ü');
    });

    it('round-trips bytes with the binary serializer as application/data', async () => {
      const bytes = new Uint8Array([0, 1, 2, 250, 255]);
      const message = await roundTrip(bytes, { serializer: 'binary' });
      expect(message.contentType).toBe('application/data');
      expect(message.contentEncoding).toBe('binary');
      expect([...(message.payload as Uint8Array)]).toEqual([0, 1, 2, 250, 255]);
      expect([...message.body]).toEqual([0, 1, 2, 250, 255]);
    });

    it('round-trips through a custom serializer registered with registerSerializer', async () => {
      const name = ctx.name('csv');
      const contentType = `text/x-${name}`;
      registerSerializer(name, {
        contentType,
        contentEncoding: 'utf-8',
        encode: (value) => utf8.encode((value as string[]).join(',')),
        decode: (bytes) => fromUtf8(bytes).split(','),
      });
      try {
        const message = await roundTrip(['a', 'b', 'c'], { serializer: name }, [contentType]);
        expect(message.contentType).toBe(contentType);
        expect(fromUtf8(message.body)).toBe('a,b,c');
        expect(message.payload).toEqual(['a', 'b', 'c']);
      } finally {
        unregisterSerializer(name);
      }
    });

    it('sends an already serialized body as is when contentType is given', async () => {
      const message = await roundTrip('{"pre": "serialized"}', {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
      });
      expect(message.contentType).toBe('application/json');
      expect(fromUtf8(message.body)).toBe('{"pre": "serialized"}');
      expect(message.payload).toEqual({ pre: 'serialized' });
    });
  });
}
