import { describe, expect, it, vi } from 'vitest';
import { Message } from '../src/index.js';
import { FakeChannel, makeDelivery } from './helpers/fake-channel.js';

describe('Message.ack never throws synchronously', () => {
  it('turns a channel that throws at call time into a rejection and stays RECEIVED', async () => {
    const channel = new FakeChannel();
    vi.spyOn(channel, 'basicAck').mockImplementation(() => {
      throw new Error('socket gone');
    });
    const message = new Message(makeDelivery({ deliveryTag: 'sync-1' }), channel);
    let pending: Promise<void> | undefined;
    expect(() => (pending = message.ack())).not.toThrow();
    await expect(pending).rejects.toThrowError('socket gone');
    expect(message.state).toBe('RECEIVED');
  });

  it('rejects a second ack issued before the first resolved with the state ACK', async () => {
    const channel = new FakeChannel();
    const message = new Message(makeDelivery({ deliveryTag: 'twice-1' }), channel);
    const first = message.ack();
    const second = message.ack();
    await first;
    await expect(second).rejects.toThrowError('Message already acknowledged with state: ACK');
    expect(channel.acks).toEqual(['twice-1']);
  });
});
