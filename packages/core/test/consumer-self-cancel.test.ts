import { describe, expect, it } from 'vitest';
import { Consumer, Queue } from '../src/index.js';
import { FakeChannel, makeDelivery } from './helpers/fake-channel.js';

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

describe('Consumer.cancel from inside its own async callback', () => {
  it('does not wait for itself when the callback cancels after awaiting a timer', async () => {
    const channel = new FakeChannel();
    const consumer: Consumer = new Consumer(channel, new Queue('q'), {
      onMessage: async (message) => {
        await tick();
        await consumer.cancel({ timeout: 30 });
        await message.ack();
      },
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'deep-1' }));
    await expect.poll(() => channel.acks, { timeout: 1_000 }).toEqual(['deep-1']);
    expect(consumer.consuming).toBe(false);
  });

  it('does not wait for itself when a nested helper of a callback cancels', async () => {
    const channel = new FakeChannel();
    const stop = async (): Promise<void> => {
      await tick();
      await consumer.cancel({ timeout: 30 });
    };
    const consumer: Consumer = new Consumer(channel, new Queue('q'), {
      callbacks: [
        async (_body, message) => {
          await tick();
          await stop();
          await message.ack();
        },
      ],
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'deep-2' }));
    await expect.poll(() => channel.acks, { timeout: 1_000 }).toEqual(['deep-2']);
  });

  it('still waits for the callback when cancel comes from outside it', async () => {
    const channel = new FakeChannel();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const consumer = new Consumer(channel, new Queue('q'), {
      onMessage: async (message) => {
        await held;
        await message.ack();
      },
    });
    await consumer.consume();
    channel.deliver('q', makeDelivery({ deliveryTag: 'out-1' }));
    await tick();
    const acksWhenCancelled: string[][] = [];
    const cancelling = consumer.cancel().then(() => acksWhenCancelled.push([...channel.acks]));
    await tick();
    expect(acksWhenCancelled).toEqual([]);
    release();
    await cancelling;
    expect(acksWhenCancelled).toEqual([['out-1']]);
  });
});
