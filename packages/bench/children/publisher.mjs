// Publishing awaited one at a time, from a cold process, three ways: kelp's Producer (as the
// README writes it), BullMQ's `queue.add()`, and a bare ioredis LPUSH of the JSON body. The
// window runs from before the first publish (connecting included) to the last one's reply.
//
//   node publisher.mjs --side kelp|bullmq|lpush --url URL --queue Q --messages N
import { body, flags, start } from './report.mjs';

const args = flags({ side: { type: 'string' } });

async function kelp() {
  const { Connection, Exchange, Queue } = await import('kelp');
  const conn = new Connection(args.url);
  const exchange = new Exchange(`${args.queue}.x`, { type: 'direct', durable: false });
  const queue = new Queue(args.queue, { exchange, routingKey: args.queue, durable: false });
  const window = start();
  const producer = conn.Producer({ exchange, routingKey: args.queue });
  for (let i = 0; i < args.messages; i += 1) await producer.publish(body(i), { declare: [queue] });
  window.finish(args.messages);
  await conn.close();
}

async function bullmq() {
  const { Queue } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const window = start();
  const connection = new Redis(args.url, { maxRetriesPerRequest: null });
  const queue = new Queue(args.queue, { connection });
  for (let i = 0; i < args.messages; i += 1) await queue.add('bench', body(i), { removeOnComplete: true, removeOnFail: true });
  window.finish(args.messages);
  await queue.close();
  connection.disconnect();
}

async function lpush() {
  const { Redis } = await import('ioredis');
  const window = start();
  const redis = new Redis(args.url);
  for (let i = 0; i < args.messages; i += 1) await redis.lpush(args.queue, JSON.stringify(body(i)));
  window.finish(args.messages);
  redis.disconnect();
}

const sides = { kelp, bullmq, lpush };
const run = sides[args.side];
if (!run) throw new Error(`--side must be one of ${Object.keys(sides).join(', ')}`);
await run();
