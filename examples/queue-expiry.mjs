// Queue expiry: a queue declared with `x-expires` (ms) that nobody uses for that long (no
// consumer, no get, no declaration; publishing does not count) is deleted with its messages, as
// on RabbitMQ. On Redis each of its keys carries that Redis expiry, reset by every use. Here
// `scratch` is left alone and goes; `busy` is read every 300 ms and stays.
// Run: npm run build && node examples/queue-expiry.mjs [URL]
import { Connection, NotFoundError, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const channel = await conn.channel();
const args = { queueArguments: { 'x-expires': 1000 } };
const scratch = new Queue('scratch', args).bind(channel);
const busy = new Queue('busy', args).bind(channel);
await scratch.declare();
await busy.declare();

const producer = new Producer(channel);
for (let n = 1; n <= 10; n++) {
  await producer.publish({ n }, { routingKey: 'scratch' });
  await producer.publish({ n }, { routingKey: 'busy' });
}
const read = [];
for (let i = 0; i < 6; i++) {
  await new Promise((resolve) => setTimeout(resolve, 300));
  read.push((await busy.get({ noAck: true })).payload.n);
}

async function exists(name) {
  try {
    await channel.queueDeclare(name, { passive: true });
    return 'exists';
  } catch (error) {
    if (error instanceof NotFoundError) return 'deleted';
    throw error;
  }
}
console.log(`after 1.8 s: scratch ${await exists('scratch')}, busy ${await exists('busy')} (read ${read.join(', ')})`);
await busy.delete();
await conn.close();
