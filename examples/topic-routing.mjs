// Topic routing with Kombu's rules: `*` matches one word, `#` zero or more.
// Run: npm run build && node examples/topic-routing.mjs [URL]
import { Connection, Exchange, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const channel = await conn.defaultChannel();

const logs = new Exchange('logs', { type: 'topic' });
const queues = {
  errors: new Queue('logs.errors', { exchange: logs, routingKey: '*.error' }),
  billing: new Queue('logs.billing', { exchange: logs, routingKey: 'billing.#' }),
  all: new Queue('logs.all', { exchange: logs, routingKey: '#' }),
};
for (const queue of Object.values(queues)) await queue.bind(channel).declare();

const producer = new Producer(conn, { exchange: logs });
for (const routingKey of ['billing.error', 'billing.invoice.sent', 'auth.error', 'auth.login']) {
  const result = await producer.publish({ routingKey }, { routingKey });
  console.log(`${routingKey.padEnd(22)} -> ${result.queues.join(', ')}`);
}

for (const [name, queue] of Object.entries(queues)) {
  const bound = queue.bind(channel);
  const keys = [];
  for (let message = await bound.get(); message; message = await bound.get()) {
    keys.push(message.payload.routingKey);
    await message.ack();
  }
  console.log(`${name}: ${keys.join(', ')}`);
}
await conn.close();
