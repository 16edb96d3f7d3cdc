/**
 * The capacity model of single-slot mode: every key is on one master, so that master's CPU per
 * message bounds what the cluster carries for one kelp application. Measured from the master's
 * own `INFO cpu` (used_cpu_user + used_cpu_sys) around a publish phase and a consume+ack phase of
 * 20,000 messages from this process, and printed as one `[cluster] capacity` line. The figures
 * vary with the machine; the test checks that each phase ran on the slot's master alone.
 */
import { Connection, Queue, type Message } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeInProcess } from '../faults/support/in-process.js';
import { waitFor } from '../faults/support/redis-data.js';
import { startClusterTopology, type ClusterTopology } from '../setup/cluster-topology.js';

const PREFIX = '{capacity}:';
const QUEUE = 'capacity';
const TOTAL = 20_000;

let topology: ClusterTopology;
beforeAll(async () => {
  topology = await startClusterTopology();
}, 60_000);
afterAll(() => topology?.stop());

/** Seconds of CPU each node has used so far. */
async function cpuSeconds(): Promise<Map<number, number>> {
  const result = new Map<number, number>();
  for (const port of topology.ports) {
    const client = topology.nodeClient(port);
    try {
      const text = await client.info('cpu');
      const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)?.[1] ?? NaN);
      result.set(port, field('used_cpu_user') + field('used_cpu_sys'));
    } finally {
      client.disconnect();
    }
  }
  return result;
}

const delta = (before: Map<number, number>, after: Map<number, number>, port: number) => (after.get(port) ?? 0) - (before.get(port) ?? 0);

describe('single-slot capacity', () => {
  it('measures the slot master\'s CPU per published and per consumed+acked message', { timeout: 120_000 }, async () => {
    const { master } = await topology.ownerOf(await topology.slotOf(`${PREFIX}x`));
    const transportOptions = { globalKeyprefix: PREFIX };
    await using producerConnection = new Connection(topology.url(), { transportOptions });
    const producer = producerConnection.Producer({ routingKey: QUEUE });
    await producer.publish({ id: 'warm-up' }, { routingKey: QUEUE, declare: [new Queue(QUEUE)] });

    const beforePublish = await cpuSeconds();
    const publishStart = Date.now();
    for (let i = 0; i < TOTAL; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => producer.publish({ id: i + j }, { routingKey: QUEUE, declare: [] })));
    }
    const publishMs = Date.now() - publishStart;
    const afterPublish = await cpuSeconds();

    await using consumerConnection = new Connection(topology.url(), { transportOptions });
    let acked = 0;
    const consumeStart = Date.now();
    const running = await consumeInProcess(consumerConnection, new Queue(QUEUE), {
      prefetchCount: 100,
      onMessage: async (message: Message) => {
        await message.ack();
        acked++;
      },
    });
    const drained = await waitFor(() => acked >= TOTAL + 1, 90_000, 50);
    const consumeMs = Date.now() - consumeStart;
    await running.stop();
    const afterConsume = await cpuSeconds();

    const publishUs = (delta(beforePublish, afterPublish, master) / TOTAL) * 1e6;
    const consumeUs = (delta(afterPublish, afterConsume, master) / (TOTAL + 1)) * 1e6;
    const others = topology.ports.filter((port) => port !== master);
    const othersUs = (Math.max(...others.map((port) => delta(beforePublish, afterConsume, port))) / TOTAL) * 1e6;
    console.log(
      `[cluster] capacity on ${TOTAL} messages: slot master CPU ${publishUs.toFixed(1)} us per publish, ${consumeUs.toFixed(1)} us per consume+ack ` +
        `(so one core carries about ${Math.round(1e6 / (publishUs + consumeUs))} messages/s published and consumed); ` +
        `busiest other node ${othersUs.toFixed(1)} us per message; client wall time ${publishMs} ms publishing, ${consumeMs} ms consuming`,
    );
    expect(drained).toBe(true);
    expect([publishUs > 0, consumeUs > 0]).toEqual([true, true]);
    // Every kelp command went to the slot's master: the busiest other node is its replica, which
    // applies the master's writes (about half the master's work here) and runs no script.
    expect(othersUs).toBeLessThan(publishUs + consumeUs);
  });
});
