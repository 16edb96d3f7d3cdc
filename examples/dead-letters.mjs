// Dead letters: a message the consumer cannot read is moved aside with the reason and its
// original bytes, and the consumer keeps going. Here the consumer accepts only JSON and one
// message arrives as msgpack: it is dead-lettered, the JSON one is handled.
// Run: npm run build && node examples/dead-letters.mjs [URL]
import { Connection, Consumer, Exchange, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
conn.on('deadLettered', ({ queue, reason }) => console.log(`deadLettered event: ${queue}: ${reason}`));

const orders = new Exchange('orders', { type: 'direct' });
const queue = new Queue('orders-dl', { exchange: orders, routingKey: 'new' });
const producer = new Producer(conn, { exchange: orders, routingKey: 'new' });
await producer.publish({ id: 1 }, { declare: [queue], serializer: 'msgpack' });
await producer.publish({ id: 2 }, { declare: [queue] }); // json

const consumer = new Consumer(conn, queue, {
  accept: ['json'], // msgpack is refused: ContentDisallowedError -> dead-lettered
  callbacks: [async (body, message) => { console.log('handled', body); await message.ack(); }],
  // No onError here: the refusal still never becomes an unhandled rejection (see consumer.lastError).
});
await consumer.consume();
await conn.drainEvents({ timeout: 5 });
await consumer.whenIdle();
await consumer.cancel();

// The operator's view (what `kelp dead-letters URL --queue orders-dl` prints):
for (const entry of await conn.transport.admin.deadLetters('orders-dl')) {
  console.log(`dead letter: queue=${entry.queue} reason=${entry.reason} raw=${entry.rawEncoding}, ${entry.raw.length} chars`);
}
await conn.close();
