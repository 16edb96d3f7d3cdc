/**
 * Python Kombu 5.2.4 (Debian's) and kelp on the same sentinel:// URL, with Kombu's
 * `transport_options` (master_name, sentinel_kwargs): each consumes what the other publishes,
 * before and after a planned failover, and Python's fanout reaches kelp (both use Kombu 5.2.4's
 * literal `/{db}.` fanout prefix on sentinel://).
 */
import { Connection, Exchange, Queue, SimpleQueue, type Message } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeInProcess } from '../faults/support/in-process.js';
import { waitFor } from '../faults/support/redis-data.js';
import { kombu, type PyMessage } from '../interop/kombu-peer.js';
import { requirePython } from '../setup/prerequisites.js';
import { MASTER_NAME, SENTINEL_PASSWORD, startSentinelTopology, type SentinelTopology } from '../setup/sentinel-topology.js';

const DB = 6;
const PY_OPTIONS = { master_name: MASTER_NAME, sentinel_kwargs: { password: SENTINEL_PASSWORD } };

let topology: SentinelTopology;
beforeAll(async () => {
  requirePython(['kombu', 'redis']);
  topology = await startSentinelTopology();
}, 60_000);
afterAll(() => topology?.stop());

const ids = (prefix: string) => Array.from({ length: 5 }, (_, i) => `${prefix}-${i}`);

async function kelpPublishes(queue: string, prefix: string): Promise<void> {
  await using connection = new Connection(topology.url(DB), { transportOptions: topology.transportOptions });
  const producer = connection.Producer({ routingKey: queue });
  for (const id of ids(prefix)) await producer.publish({ id }, { routingKey: queue, retry: true });
}

async function kelpConsumes(queue: string, count: number): Promise<string[]> {
  await using connection = new Connection(topology.url(DB), { transportOptions: topology.transportOptions });
  const simple = new SimpleQueue(connection, queue);
  const got: string[] = [];
  for (let i = 0; i < count; i++) {
    const message = await simple.get({ timeout: 10 });
    got.push((message.decode() as { id: string }).id);
    await message.ack();
  }
  return got;
}

const pythonConsumes = async (queue: string, count: number) =>
  (await kombu<{ messages: PyMessage[] }>('consume', { url: topology.url(DB), transport_options: PY_OPTIONS, queue, count, timeout: 15 })).messages.map(
    (m) => (m.body as { id: string }).id,
  );

const pythonPublishes = (queue: string, prefix: string) =>
  kombu('publish', {
    url: topology.url(DB),
    transport_options: PY_OPTIONS,
    exchange: '',
    routing_key: queue,
    queue,
    messages: ids(prefix).map((id) => ({ body: { id } })),
  });

describe('Kombu 5.2.4 and kelp on one sentinel:// URL', () => {
  it('each consumes what the other publishes, before and after a failover', { timeout: 90_000 }, async () => {
    await kelpPublishes('to-python', 'k-before');
    expect(await pythonConsumes('to-python', 5)).toEqual(ids('k-before'));
    await pythonPublishes('to-kelp', 'p-before');
    expect(await kelpConsumes('to-kelp', 5)).toEqual(ids('p-before'));

    const { from, to } = await topology.failover();
    expect(to).not.toBe(from);

    await kelpPublishes('to-python', 'k-after');
    expect(await pythonConsumes('to-python', 5)).toEqual(ids('k-after'));
    await pythonPublishes('to-kelp', 'p-after');
    expect(await kelpConsumes('to-kelp', 5)).toEqual(ids('p-after'));
  });

  it('kelp receives a Python fanout publish on the same channel name', { timeout: 30_000 }, async () => {
    const connection = new Connection(topology.url(DB), { transportOptions: topology.transportOptions });
    const got: unknown[] = [];
    const running = await consumeInProcess(connection, new Queue('fan-q', { exchange: new Exchange('pyfan', { type: 'fanout' }) }), {
      onMessage: async (message: Message) => {
        got.push(message.decode());
        await message.ack();
      },
    });
    try {
      await kombu('fanout-publish', { url: topology.url(DB), transport_options: PY_OPTIONS, exchange: 'pyfan', body: { fan: 'out' } });
      expect(await waitFor(() => got.length > 0, 10_000, 50)).toBe(true);
      expect(got).toEqual([{ fan: 'out' }]);
    } finally {
      await running.stop();
      await connection.close();
    }
  });
});
