// SimpleQueue: Kombu's "simple" interface, a named queue with put/get.
// Run: npm run build && node examples/simple-queue.mjs [URL]
import { Connection, SimpleQueue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const queue = new SimpleQueue(conn, 'simple-example');

await queue.clear();
await queue.put({ hello: 'world' });
await queue.put('plain text is sent as text/plain');
console.log('waiting:', await queue.qsize());

for (let i = 0; i < 2; i += 1) {
  const message = await queue.get({ timeout: 5 }); // seconds
  console.log('got', message.payload, `(${message.contentType})`);
  await message.ack();
}
console.log('empty now:', (await queue.getNowait()) === undefined);
await queue.close();
await conn.close();
