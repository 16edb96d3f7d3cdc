// Publish three messages to a direct exchange and consume them with callbacks, acking each.
// Run: npm run build && node examples/basic-publish-consume.mjs [URL]   (default memory://)
import { Connection, Consumer, Exchange, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you

const tasks = new Exchange('tasks', { type: 'direct' });
const email = new Queue('email', { exchange: tasks, routingKey: 'email' });

const producer = new Producer(conn, { exchange: tasks, routingKey: 'email' });
for (const to of ['ada@example.com', 'alan@example.com', 'grace@example.com']) {
  // `declare` makes sure the queue exists and is bound before the first message goes out.
  await producer.publish({ to, subject: 'hello' }, { declare: [email] });
}

let received = 0;
const consumer = new Consumer(conn, email, {
  callbacks: [
    async (body, message) => {
      console.log('got', body, 'tag', message.deliveryTag);
      await message.ack();
      received += 1;
    },
  ],
});
await consumer.consume();
// drainEvents runs the connection's Hub until at least one delivery happened (timeout in seconds);
// whenIdle waits for the callbacks of what was delivered (they run one at a time, in order).
while (received < 3) {
  await conn.drainEvents({ timeout: 5 });
  await consumer.whenIdle();
}
await consumer.cancel();
console.log(`consumed ${received} messages from ${url}`);
await conn.close();
