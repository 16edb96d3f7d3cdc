// Message TTL: a message whose expiration has passed before a consumer takes it is never
// delivered. Here one message gets `expiration: 1` (seconds) and one comes to a queue declared
// with `x-message-ttl: 1000` (milliseconds, as on RabbitMQ); both wait 1.5 s. The queue has
// dead-letter routing, so they go to its dead-letter list with the reason `expired`; without it
// they are dropped and counted (`inspect`). A message published after the wait is delivered.
// Run: npm run build && node examples/message-ttl.mjs [URL]
import { Connection, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
conn.on('expired', ({ queue, deadLettered }) => console.log(`expired event: ${queue} (${deadLettered ? 'dead-lettered' : 'dropped'})`));

const queue = new Queue('reminders', { queueArguments: { 'x-message-ttl': 1000, 'x-dead-letter': true } });
const producer = new Producer(conn, { routingKey: 'reminders' });
await producer.publish({ note: 'call back' }, { declare: [queue], expiration: 1 });
await producer.publish({ note: 'queue TTL' }, { declare: [queue] });
await new Promise((resolve) => setTimeout(resolve, 1500));
await producer.publish({ note: 'fresh' });

const channel = await conn.channel();
const bound = queue.bind(channel);
for (let message = await bound.get(); message; message = await bound.get()) {
  console.log('delivered', message.payload);
  await message.ack();
}
const reasons = (await conn.transport.admin.deadLetters('reminders')).map((entry) => entry.reason);
console.log(`dead letters: ${reasons.join(', ')}`);
await conn.close();
