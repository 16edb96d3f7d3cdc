// Priorities 0-9. On Redis (as in Kombu) 0 is consumed first; the queue's priority sub-lists
// are read in order, so a priority-0 message overtakes waiting priority-9 ones.
// Run: npm run build && node examples/priorities.mjs [URL]
import { Connection, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const channel = await conn.defaultChannel();

const jobs = new Queue('jobs', { maxPriority: 9 });
await jobs.bind(channel).declare();
await jobs.bind(channel).purge();

const producer = new Producer(conn);
for (const [name, priority] of [['report', 9], ['backup', 6], ['page-oncall', 0], ['email', 3]]) {
  // The default exchange ('') routes by queue name.
  await producer.publish({ name }, { routingKey: 'jobs', priority });
}

const order = [];
for (let message = await jobs.bind(channel).get(); message; message = await jobs.bind(channel).get()) {
  order.push(`${message.payload.name} (priority ${message.properties.priority})`);
  await message.ack();
}
console.log(`consumed in order: ${order.join(', ')}`);
await conn.close();
