/**
 * Backlogs for the cold consumers, put in Redis by the parent before a child starts, and removed
 * after it: kelp messages through kelp's own Producer (so the consumer reads real envelopes),
 * BullMQ jobs through BullMQ's `addBulk`. Neither is measured.
 */
import { Connection, Exchange, Queue } from 'kelp';
import { benchBody } from '../harness.js';
import { redisClientFor } from '../redis-info.js';

const SLICE = 1000;

/** The exchange and queue a kelp child declares for queue `name` (see children/kelp-consumer.mjs). */
function kelpTopology(name: string): { exchange: Exchange; queue: Queue } {
  const exchange = new Exchange(`${name}.x`, { type: 'direct', durable: false });
  return { exchange, queue: new Queue(name, { exchange, routingKey: name, durable: false }) };
}

/** Publishes `messages` bench bodies to kelp queue `name`, SLICE at a time in flight. */
export async function fillKelpQueue(url: string, name: string, messages: number): Promise<void> {
  const connection = new Connection(url);
  try {
    const { exchange, queue } = kelpTopology(name);
    const producer = connection.Producer({ exchange, routingKey: name });
    for (let sent = 0; sent < messages; sent += SLICE) {
      const slice = Array.from({ length: Math.min(SLICE, messages - sent) }, (_, i) => producer.publish(benchBody(sent + i), { declare: [queue] }));
      await Promise.all(slice);
    }
  } finally {
    await connection.close();
  }
}

/** Deletes kelp queue `name` and its exchange, whatever a run left in them. */
export async function dropKelpQueue(url: string, name: string): Promise<void> {
  const connection = new Connection(url);
  try {
    const channel = await connection.channel();
    const { exchange, queue } = kelpTopology(name);
    await queue.bind(channel).delete();
    await exchange.bind(channel).delete();
  } finally {
    await connection.close();
  }
}

/** BullMQ's own connection, from the URL as a BullMQ user would give it to ioredis. */
async function bullmqQueue(url: string, name: string) {
  const { Queue: BullQueue } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  return { queue: new BullQueue(name, { connection }), connection };
}

/** Adds `messages` bench jobs to BullMQ queue `name`, removed from Redis once completed. */
export async function fillBullmqQueue(url: string, name: string, messages: number): Promise<void> {
  const { queue, connection } = await bullmqQueue(url, name);
  try {
    for (let sent = 0; sent < messages; sent += SLICE) {
      const jobs = Array.from({ length: Math.min(SLICE, messages - sent) }, (_, i) => ({
        name: 'bench',
        data: benchBody(sent + i),
        opts: { removeOnComplete: true, removeOnFail: true },
      }));
      await queue.addBulk(jobs);
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** Removes BullMQ queue `name` and every key of it. */
export async function dropBullmqQueue(url: string, name: string): Promise<void> {
  const { queue, connection } = await bullmqQueue(url, name);
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** Deletes plain Redis keys (the raw LPUSH peer's list). */
export async function dropKeys(url: string, ...keys: string[]): Promise<void> {
  const client = redisClientFor(url);
  if (!client) return;
  try {
    await client.del(...keys);
  } finally {
    client.disconnect();
  }
}
