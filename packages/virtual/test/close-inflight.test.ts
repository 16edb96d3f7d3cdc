/**
 * What a channel hands back when it cannot deliver, and what close() waits for: deliveries a
 * poller handed over while consumers went away, and a restore sweep in progress.
 */
import { describe, expect, it } from 'vitest';
import { encodeEnvelope, type RestoreOptions, type RestoreOutcome, type RouteResolver, type UnackedStore } from '../src/index.js';
import { message, TestStorage, TestStore, TestTransport } from './helpers/test-storage.js';

function envelope(body: string, tag: string, queue = 'q'): string {
  return encodeEnvelope(message(body), '', queue, tag);
}

/** Test storage whose restores and sweeps wait for gates, on a transport that logs when it releases a channel. */
class GatedTransport extends TestTransport {
  gate: Promise<void> = Promise.resolve();
  sweepSignal: AbortSignal | undefined;
  sweepGate: Promise<void> = Promise.resolve();

  constructor(store: TestStore) {
    super(store);
    this.storageFor = (transport) => {
      const storage = new TestStorage(store, () => transport.wake());
      const restore = storage.unacked.restore;
      const unacked: UnackedStore = {
        ...storage.unacked,
        restore: async (tag: string, options: RestoreOptions, resolve: RouteResolver): Promise<RestoreOutcome> => {
          await this.gate;
          store.calls.push(`restore ${tag}`);
          return restore(tag, options, resolve);
        },
        visibility: {
          extend: async () => undefined,
          restoreExpired: async (_resolve: RouteResolver, signal?: AbortSignal): Promise<RestoreOutcome[]> => {
            this.sweepSignal = signal;
            await this.sweepGate;
            store.calls.push('sweep done');
            return [];
          },
        },
      };
      return Object.assign(storage, { unacked });
    };
  }

  override async releaseChannel(): Promise<void> {
    this.store.calls.push('release');
  }
}

async function gated() {
  const store = new TestStore();
  const transport = new GatedTransport(store);
  const channel = await transport.createChannel();
  return { store, transport, channel };
}

describe('messages taken for a consumer that is gone', () => {
  it('go back to the head of their queue, a batch in the order it was taken', async () => {
    const { store, channel } = await gated();
    const first = envelope('first', 't1');
    const second = envelope('second', 't2');
    store.unacked.set('t1', [first, '', 'q']);
    store.unacked.set('t2', [second, '', 'q']);
    store.list('q').push(envelope('published meanwhile', 't3'));
    // One poll's batch, handed over after the consumer was cancelled.
    await Promise.all([channel.handleIncoming('q', first, { recorded: true }), channel.handleIncoming('q', second, { recorded: true })]);
    expect(store.bodies('q')).toEqual(['first', 'second', 'published meanwhile']);
    expect([...store.unacked.keys()]).toEqual([]);
  });
});

describe('close()', () => {
  it('waits for a message being handed back before it releases the channel', async () => {
    const { store, transport, channel } = await gated();
    let open: () => void = () => undefined;
    transport.gate = new Promise((resolve) => (open = resolve));
    const payload = envelope('raced', 't1');
    store.unacked.set('t1', [payload, '', 'q']);
    const handing = channel.handleIncoming('q', payload, { recorded: true });
    const closing = channel.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.calls).toEqual([]);
    open();
    await closing;
    await handing;
    expect(store.calls).toEqual(['restore t1', 'release']);
    expect(store.bodies('q')).toEqual(['raced']);
    expect(store.unacked.size).toBe(0);
  });

  it('stops a restore sweep in progress and waits for it to finish before releasing the channel', async () => {
    const { store, transport, channel } = await gated();
    let finish: () => void = () => undefined;
    transport.sweepGate = new Promise((resolve) => (finish = resolve));
    const sweep = channel.restoreVisible();
    const closing = channel.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(transport.sweepSignal?.aborted).toBe(true);
    expect(store.calls).toEqual([]);
    finish();
    await closing;
    expect(await sweep).toBe(0);
    expect(store.calls).toEqual(['sweep done', 'release']);
  });
});
