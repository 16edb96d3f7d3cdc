/**
 * Compression end to end (docs/wire-format.md#compression): zlib and its gzip alias (a ZLIB stream
 * under the header
 * `application/x-gzip`), brotli, and compression combined with a binary serializer.
 */
import { describe, expect, it } from 'vitest';
import { KelpError, type Message } from 'kelp';
import { caught, declareQueue, drainQueue, publish, type SuiteContext } from './context.js';

const fromUtf8 = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

export function compressionTests(ctx: SuiteContext): void {
  async function roundTrip(body: unknown, options: Record<string, unknown>, accept?: string[]): Promise<Message> {
    const conn = await ctx.connection();
    const queue = await declareQueue(conn, ctx.name('zq'));
    await publish(conn, body, { exchange: '', routingKey: queue.name, ...options });
    const message = await queue.get(accept ? { noAck: true, accept } : { noAck: true });
    if (!message) throw new Error('the published message did not arrive');
    return message;
  }

  // Repetitive enough that every algorithm shrinks it.
  const body = { text: 'kelp '.repeat(200), n: 42 };

  describe('compression', () => {
    it('round-trips a zlib-compressed body and marks it application/x-gzip', async () => {
      const message = await roundTrip(body, { compression: 'zlib' });
      expect(message.headers['compression']).toBe('application/x-gzip');
      expect(message.payload).toEqual(body);
    });

    it('round-trips the gzip alias under the same application/x-gzip header', async () => {
      const message = await roundTrip(body, { compression: 'gzip' });
      expect(message.headers['compression']).toBe('application/x-gzip');
      expect(message.payload).toEqual(body);
    });

    it('round-trips a brotli-compressed body marked application/x-brotli', async () => {
      const message = await roundTrip(body, { compression: 'brotli' });
      expect(message.headers['compression']).toBe('application/x-brotli');
      expect(message.payload).toEqual(body);
    });

    it('exposes the decompressed serialized bytes as message.body, with the serializer content type', async () => {
      const message = await roundTrip(body, { compression: 'zlib' });
      expect(message.contentType).toBe('application/json');
      expect(JSON.parse(fromUtf8(message.body))).toEqual(body);
    });

    it('compresses msgpack bodies too', async () => {
      const message = await roundTrip(body, { compression: 'zlib', serializer: 'msgpack' }, ['msgpack']);
      expect(message.contentType).toBe('application/x-msgpack');
      expect(message.payload).toEqual(body);
    });

    it('refuses an unknown compression name and stores nothing', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('zq'));
      const error = await caught(() => publish(conn, body, { exchange: '', routingKey: queue.name, compression: 'nope' }));
      expect(error).toBeInstanceOf(KelpError);
      expect((error as Error).message).toContain('nope');
      expect(await drainQueue(queue)).toEqual([]);
    });
  });
}
