// Consume with `for await`: one message at a time, ack when done. Leaving the loop cancels the
// consumer and hands prefetched, unprocessed messages back to the queue.
// Run: npm run build && node examples/async-iterator.mjs [URL]
import { Connection, Consumer, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you

const orders = new Queue('orders');
const producer = new Producer(conn);
for (let id = 1; id <= 10; id += 1) await producer.publish({ id }, { routingKey: 'orders', declare: [orders] });

const consumer = new Consumer(conn, orders, { prefetchCount: 5 });
let handled = 0;
for await (const message of consumer.messages({ timeout: 5 })) {
  const order = message.decode();
  console.log('handling order', order.id);
  await message.ack();
  handled += 1;
  if (handled === 7) break; // the 3 still waiting (some prefetched) go back to the queue
}
const { messageCount: left } = await (await conn.defaultChannel()).queueDeclare('orders', { passive: true });
console.log(`handled ${handled}, ${left} left in the queue`);
await conn.close();
