// Queue length limits: `x-max-length` (waiting messages) and `x-max-length-bytes` (bytes of the
// waiting envelopes as stored), with `x-overflow`. Here `latest` keeps the 3 newest readings
// (drop-head: the oldest make room and are dropped and counted), and `orders` takes at most 2
// (reject-publish: the third publish resolves with the status `rejected`, nothing is lost
// silently).
// Run: npm run build && node examples/length-limits.mjs [URL]
import { Connection, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const channel = await conn.channel();

const latest = new Queue('latest-readings', { queueArguments: { 'x-max-length': 3 } }).bind(channel);
const orders = new Queue('orders-capped', { queueArguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } }).bind(channel);
await latest.declare();
await orders.declare();

const producer = new Producer(channel);
for (let reading = 1; reading <= 5; reading++) await producer.publish({ reading }, { routingKey: 'latest-readings' });
const statuses = [];
for (let order = 1; order <= 3; order++) statuses.push((await producer.publish({ order }, { routingKey: 'orders-capped' })).status);

const kept = [];
for (let message = await latest.get({ noAck: true }); message; message = await latest.get({ noAck: true })) kept.push(message.payload.reading);
const row = (await conn.transport.admin.inspect()).queues.find((q) => q.name === 'latest-readings');
console.log(`latest-readings kept ${kept.join(', ')}; dropped: ${JSON.stringify(row?.dropped ?? {})}`);
console.log(`orders-capped publishes: ${statuses.join(', ')}`);
await latest.purge();
await orders.purge();
await conn.close();
