/**
 * Visibility timeout (docs/wire-format.md#visibility-timeout): on transports that have one, a
 * message left unacked longer than `visibilityTimeout` seconds is restored by any consumer;
 * `extendVisibility` holds it back. Every transport in the repository has one; the refusal of
 * `extendVisibility` where there is none is Message's own check, tested in
 * packages/core/test/message.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Consumer, OperationTimeoutError, Queue } from 'kelp';
import { collector, declareQueue, drainUntil, publish, sleep, type SuiteContext } from './context.js';

/** Short enough for a test, long enough that a restore cannot happen before the abandon. */
const VISIBILITY_TIMEOUT = 1;

export function visibilityTests(ctx: SuiteContext): void {
  const supported = ctx.options.supportsVisibilityTimeout;

  describe('visibility timeout', () => {
    it(`reports capabilities.visibilityTimeout = ${supported}`, async () => {
      const conn = await ctx.connection();
      await conn.connect();
      expect(conn.transport.capabilities.visibilityTimeout).toBe(supported);
    });

    it.runIf(supported)('restores a message abandoned unacked once the visibility timeout passed', async () => {
      const name = ctx.name('vq');
      const abandoner = await ctx.connection({ visibilityTimeout: VISIBILITY_TIMEOUT });
      const queue = await declareQueue(abandoner, name);
      await publish(abandoner, 'abandoned', { exchange: '', routingKey: name });
      const taken = await queue.get();
      expect(taken?.payload).toBe('abandoned');
      // The abandoner stays open (as a hung worker would); only the sweep can bring the message back.
      await sleep(VISIBILITY_TIMEOUT * 1000 + 300);
      const rescuer = await ctx.connection({ visibilityTimeout: VISIBILITY_TIMEOUT });
      const got = collector();
      const consumer = new Consumer(await rescuer.channel(), [new Queue(name)], { onMessage: got.onMessage });
      await consumer.consume();
      await drainUntil(rescuer, () => got.messages.length >= 1, 15);
      expect(got.payloads()).toEqual(['abandoned']);
      expect(got.messages[0]?.redelivered).toBe(true);
      expect(got.messages[0]?.deliveryTag).toBe(taken?.deliveryTag);
      await got.messages[0]?.ack();
    });

    it.runIf(supported)('does not restore a message whose visibility was extended', async () => {
      const name = ctx.name('vq');
      const worker = await ctx.connection({ visibilityTimeout: VISIBILITY_TIMEOUT });
      const queue = await declareQueue(worker, name);
      await publish(worker, 'long job', { exchange: '', routingKey: name });
      const taken = await queue.get();
      await taken?.extendVisibility(60);
      await sleep(VISIBILITY_TIMEOUT * 1000 + 300);
      const other = await ctx.connection({ visibilityTimeout: VISIBILITY_TIMEOUT });
      const got = collector();
      const consumer = new Consumer(await other.channel(), [new Queue(name)], { onMessage: got.onMessage });
      await consumer.consume();
      await expect(other.drainEvents({ timeout: 1.5 })).rejects.toBeInstanceOf(OperationTimeoutError);
      expect(got.messages).toHaveLength(0);
      await taken?.ack();
    });
  });
}
